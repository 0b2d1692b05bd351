"""The database layer: engines and sessions, the SQLite writer queue, the tables and their
migrations. It knows no domain rule.

The public seam is here: `Database` (an engine and its sessions), the read and write phases
of a transaction (`begin_read`, `begin_write`), `Lookup`/`fetch` for a prebuilt read, and
`is_outage` for telling an unreachable server from a failed statement.
"""

from fvh.db.engine import (
    Database,
    Lookup,
    backend_name,
    begin_read,
    begin_write,
    create_db_engine,
    fetch,
    is_outage,
)

__all__ = [
    "Database",
    "Lookup",
    "backend_name",
    "begin_read",
    "begin_write",
    "create_db_engine",
    "fetch",
    "is_outage",
]
