"""Driver errors sorted by what they mean, on the real servers, and a transaction run again
after a real conflict."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from fvh import db
from fvh.db import Database, Failure, Timeouts
from fvh.db.models import Member

UNREACHABLE = {
    "mysql": "mysql+mysqlconnector://root@127.0.0.1:1/x",
    "postgresql": "postgresql+psycopg://u@127.0.0.1:1/x",
    "sqlite": None,
}


def error_of(database: Database, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, database.engine.connect() as conn:
        conn.execute(text(statement))
    return caught.value


def two_members(build) -> tuple[int, int]:
    return build.member(last_name="Eins").id, build.member(last_name="Zwei").id


def bump(session, member_id: int) -> None:
    """A write that locks the member's row (its session version: no money involved)."""
    session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(session_version=Member.session_version + 1)
    )


def versions(database: Database, *member_ids: int) -> list[int]:
    with database.session() as session:
        query = select(Member.session_version).where(Member.id.in_(member_ids))
        return sorted(session.scalars(query))


def test_failed_statement_is_an_error_not_an_outage(database):
    exc = error_of(database, "SELECT * FROM no_such_table")
    assert db.classify(exc) is Failure.ERROR
    assert not db.is_outage(exc)


@pytest.mark.parametrize("server", ["mysql", "postgresql"])
def test_unreachable_server_is_an_outage(server):
    database = Database(UNREACHABLE[server])
    try:
        assert db.classify(error_of(database, "SELECT 1")) is Failure.OUTAGE
    finally:
        database.dispose()


def test_deadlock_is_a_conflict_and_run_again(database, build, backend):
    """Two transactions lock two rows in opposite order: the server picks one to roll back,
    `run_transaction` runs it again, and both changes are there once."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: no deadlock")
    first, second = two_members(build)
    both_locked_one = threading.Barrier(2, timeout=10)
    attempts: dict[str, int] = {}
    errors: list[BaseException] = []

    def transfer(name: str, a: int, b: int) -> None:
        calls = 0

        def work() -> None:
            nonlocal calls
            calls += 1
            bump(session, a)
            if calls == 1:
                both_locked_one.wait()
            bump(session, b)

        session = database.sessionmaker()
        try:
            attempts[name] = db.run_transaction(session, work).attempts
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            session.close()

    threads = [
        threading.Thread(target=transfer, args=("ab", first, second)),
        threading.Thread(target=transfer, args=("ba", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors
    assert sorted(attempts.values()) == [1, 2]  # one deadlock victim, run once more
    assert versions(database, first, second) == [3, 3]  # from 1, bumped once by each


def test_conflicts_beyond_the_retries_are_not_committed(database, build, backend):
    """A transaction that keeps conflicting is rolled back for good (NotCommitted), after at
    most `attempts` runs, and leaves nothing behind."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: no deadlock")
    member_id = build.member().id
    runs = 0

    def work() -> None:
        nonlocal runs
        runs += 1
        bump(session, member_id)
        raise DBAPIError.instance("COMMIT", None, _deadlock(backend), Exception)

    session = database.sessionmaker()
    try:
        with pytest.raises(db.NotCommitted) as caught:
            db.run_transaction(session, work, db.Retries(attempts=3, pause=0.001))
    finally:
        session.close()
    assert caught.value.failure is Failure.CONFLICT
    assert runs == caught.value.attempts == 3
    assert versions(database, member_id) == [1]


def _deadlock(backend: str) -> Exception:
    """The driver's own exception for a deadlock, as the server reports it."""
    if backend == "mysql":
        from mysql.connector import errors

        return errors.get_mysql_exception(1213, "Deadlock found", "40001")
    import psycopg

    return psycopg.errors.DeadlockDetected("deadlock detected")


def test_lock_wait_is_bounded_and_a_timeout(database_url, build, backend):
    """With `Timeouts`, a statement waiting for a locked row gives up after the lock
    timeout, as a LOCK_TIMEOUT (not an outage, not a conflict)."""
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock is bounded by its busy timeout")
    member_id = build.member().id
    bounded = Database(database_url, timeouts=Timeouts(lock=1, statement=5))
    try:
        with bounded.engine.connect() as holder:
            holder.execute(select(Member.id).where(Member.id == member_id).with_for_update())
            started = time.monotonic()
            with pytest.raises(DBAPIError) as caught, bounded.engine.connect() as waiter:
                waiter.execute(
                    update(Member).where(Member.id == member_id).values(session_version=5)
                )
            waited = time.monotonic() - started
            holder.rollback()
    finally:
        bounded.dispose()
    assert db.classify(caught.value) is Failure.LOCK_TIMEOUT
    assert 0.8 < waited < 3


def test_long_statement_is_bounded_and_a_timeout(database_url, backend):
    sleep = {"mysql": "SELECT SLEEP(3)", "postgresql": "SELECT pg_sleep(3)"}.get(backend)
    if sleep is None:
        pytest.skip("SQLite has no statement timeout")
    bounded = Database(database_url, timeouts=Timeouts(lock=1, statement=0.5))
    try:
        started = time.monotonic()
        exc = error_of(bounded, sleep)
        assert time.monotonic() - started < 4
    finally:
        bounded.dispose()
    assert db.classify(exc) is Failure.TIMEOUT
