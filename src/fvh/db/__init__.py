"""The database layer: engines and sessions, the SQLite writer queue, the tables and their
migrations. It knows no domain rule.

The public seam is here: `Database` (an engine and its sessions), the read and write phases
of a transaction (`begin_read`, `begin_write`), `Lookup`/`fetch` for a prebuilt read, and a
transaction run to its end (`run_transaction`: retried after a conflict, with `classify` for
what a driver error means).
"""

from fvh.db.engine import (
    Database,
    Lookup,
    Timeouts,
    backend_name,
    begin_read,
    begin_write,
    create_db_engine,
    fetch,
)
from fvh.db.transactions import (
    CommitUncertain,
    Failure,
    NotCommitted,
    Retries,
    classify,
    commit_quietly,
    is_outage,
    run_transaction,
)

__all__ = [
    "CommitUncertain",
    "Database",
    "Failure",
    "Lookup",
    "NotCommitted",
    "Retries",
    "Timeouts",
    "backend_name",
    "begin_read",
    "begin_write",
    "classify",
    "commit_quietly",
    "create_db_engine",
    "fetch",
    "is_outage",
    "run_transaction",
]
