"""The database server kills FVH's connections under tap load: nobody is told "failed" for a
booking.

While terminals tap a served FVH, a thread `KILL`s (MariaDB) or terminates (PostgreSQL,
`pg_terminate_backend`) every connection to this test's database (and only those: other
agents share the server) every 0.25 s. A connection may die in any
phase of a tap, also during COMMIT, where the server may have committed without FVH
learning of it. Every answer must be the truth: "booked" taps are in the journal, and an
answer that is not a success has no journal row, unless it says the outcome is uncertain.
A failure answer is a 503 in JSON that invites a retry (Retry-After), never a 500.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.faults.served import (
    SERVER_ENGINES,
    Server,
    Terminals,
    free_port,
    journal_counts,
    judge,
    ledger_check,
    own_database,
    prepare,
    served_env,
    truthful_failures,
)

LOAD_SECONDS = 25
KILL_EVERY = 0.25
TERMINALS = 6


pytestmark = pytest.mark.slow

# The connections to one database, and how one is ended, as each server says it.
FIND = {
    "mysql": "SELECT id FROM information_schema.processlist WHERE db = :db",
    "postgresql": (
        "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
    ),
}
END = {
    "mysql": "KILL CONNECTION {id}",
    "postgresql": "SELECT pg_terminate_backend({id})",
}


class ConnectionKiller(threading.Thread):
    """Ends every connection to one database on the server, every KILL_EVERY seconds."""

    def __init__(self, engine_name: str, url: str) -> None:
        super().__init__(daemon=True)
        self.engine_name = engine_name
        self.database = make_url(url).database
        admin = "information_schema" if engine_name == "mysql" else "postgres"
        self.engine = create_engine(make_url(url).set(database=admin), isolation_level="AUTOCOMMIT")
        self.stop = threading.Event()
        self.killed = 0

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.wait(KILL_EVERY):
                found = conn.execute(text(FIND[self.engine_name]), {"db": self.database})
                for connection_id in list(found.scalars()):
                    try:
                        conn.execute(text(END[self.engine_name].format(id=int(connection_id))))
                        self.killed += 1
                    except DBAPIError:
                        pass  # gone by itself meanwhile
        self.engine.dispose()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_killed_connections_never_give_failed_but_booked(engine: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with own_database(engine, tmp_path) as url:
        env = served_env(url, tmp_path / "data")
        codes, key = prepare(env)
        server = Server(env, free_port(), tmp_path)
        server.start()
        prefix = f"connkill{engine}"
        killer = ConnectionKiller(engine, url)
        try:
            with Terminals(server.port, key, codes, TERMINALS, prefix) as terminals:
                time.sleep(1.0)
                killer.start()
                time.sleep(LOAD_SECONDS)
                killer.stop.set()
                killer.join(timeout=10)
                time.sleep(1.0)  # taps after the last kill: the server recovers by itself
        finally:
            server.stop()
        log = server.log_text()
        figures = judge(terminals.answers, journal_counts(url, prefix))
        check = ledger_check(env)

    print(
        f"\n{figures.line(f'connection kill on {engine}')}, connections killed {killer.killed}, "
        f"seconds {time.monotonic() - started:.0f}"
    )
    problems = truthful_failures(figures, terminals.answers, log)
    if check:
        problems.append(f"ledger check: {check}")
    tail = terminals.answers[-TERMINALS:]
    if not all(a.booked for a in tail):
        problems.append(f"not recovered after the kills: {tail}")
    assert figures.acknowledged > 100, "the load was too thin to mean anything"
    assert not problems, "\n".join(problems)
