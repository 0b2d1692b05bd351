"""A table lock longer than a terminal waits: taps are refused in time, and stay unbooked.

An operator's `FLUSH TABLES ... WITH READ LOCK` (a backup tool, say) on MariaDB, or a
`LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` on PostgreSQL, holds the booking tables for
HOLD seconds, longer than the terminals' 10 s. FVH bounds its lock waits and statements
(DB_LOCK_TIMEOUT / DB_STATEMENT_TIMEOUT), so each tap meanwhile is answered 503
with Retry-After before the terminal gives up, and rolled back: when the lock is released,
nothing is booked that a terminal was told failed or never heard about. Taps after the
release book again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.faults.served import (
    ANSWERED,
    SERVER_ENGINES,
    TERMINAL_TIMEOUT,
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

HOLD = 12.0
LOCK_TIMEOUT = 2  # DB_LOCK_TIMEOUT, seconds (the default)
STATEMENT_TIMEOUT = 5  # DB_STATEMENT_TIMEOUT, seconds (the default)
TERMINALS = 4

pytestmark = pytest.mark.slow


class TableLock(threading.Thread):
    """Holds every table of the test's database locked for HOLD seconds, on its own connection."""

    def __init__(self, engine_name: str, url: str) -> None:
        super().__init__(daemon=True)
        self.engine_name = engine_name
        self.engine = create_engine(url)
        self.held = threading.Event()
        self.window: tuple[float, float] = (0.0, 0.0)

    def run(self) -> None:
        with self.engine.connect() as conn:
            if self.engine_name == "mysql":
                name = conn.execute(text("SELECT DATABASE()")).scalar_one()
                tables = conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :db"
                    ),
                    {"db": name},
                ).scalars()
                listed = ", ".join(f"`{name}`.`{table}`" for table in tables)
                conn.execute(text(f"FLUSH TABLES {listed} WITH READ LOCK"))
            else:
                tables = conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
                listed = ", ".join(f'public."{table}"' for table in tables)
                conn.execute(text(f"LOCK TABLE {listed} IN ACCESS EXCLUSIVE MODE"))
            start = time.monotonic()
            self.held.set()
            time.sleep(HOLD)
            if self.engine_name == "mysql":
                conn.execute(text("UNLOCK TABLES"))
            conn.rollback()  # ends PostgreSQL's transaction, and with it the lock
            self.window = (start, time.monotonic())
        self.engine.dispose()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_taps_during_a_long_table_lock_are_refused_in_time(engine: str, tmp_path: Path) -> None:
    with own_database(engine, tmp_path) as url:
        env = {
            **served_env(url, tmp_path / "data"),
            "DB_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
            "DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
        }
        codes, key = prepare(env)
        server = Server(env, free_port(), tmp_path)
        server.start()
        prefix = f"lock{engine}"
        lock = TableLock(engine, url)
        try:
            with Terminals(server.port, key, codes, TERMINALS, prefix) as terminals:
                time.sleep(1.0)
                lock.start()
                assert lock.held.wait(timeout=30), "the lock was not taken"
                lock.join(timeout=HOLD + 30)
                time.sleep(TERMINAL_TIMEOUT + 3.0)  # what waited is answered or given up
        finally:
            server.stop()
        log = server.log_text()
        time.sleep(1.0)
        figures = judge(terminals.answers, journal_counts(url, prefix))
        check = ledger_check(env)

    locked_from, released = lock.window
    bound = STATEMENT_TIMEOUT + LOCK_TIMEOUT + 1.0  # a read's wait, then the write's
    during = [a for a in terminals.answers if locked_from < a.at < released]
    # Sent so early that the lock outlasts any wait FVH allows: these must be refused.
    held_up = [a for a in during if a.at < released - bound]
    after = [a for a in terminals.answers if a.at > released + bound]
    refused = [a for a in during if a.status == 503]
    slowest = max((a.seconds for a in during), default=0.0)
    print(
        f"\n{figures.line(f'lock timeout on {engine}')}, taps sent during the lock "
        f"{len(during)}, of them 503 {len(refused)}, booked {sum(a.booked for a in during)}, "
        f"slowest answer meanwhile {slowest:.1f} s"
    )
    problems = truthful_failures(figures, terminals.answers, log)
    late = [a for a in during if a.kind != ANSWERED or a.seconds > bound]
    if late:
        problems.append(
            f"{len(late)} taps during the lock not answered within {bound} s: {late[:3]}"
        )
    not_refused = [a for a in held_up if a.status != 503 or not a.retry_after]
    if not held_up or not_refused:
        problems.append(
            f"taps held up by the lock not answered 503 with Retry-After: {len(not_refused)} "
            f"of {len(held_up)}, e.g. {not_refused[:3]}"
        )
    if not after or not all(a.booked for a in after):
        problems.append(
            f"taps after the release not booked: {[a for a in after if not a.booked][:3]}"
        )
    if check:
        problems.append(f"ledger check: {check}")
    assert not problems, "\n".join(problems)
