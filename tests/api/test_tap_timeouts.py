"""A tap that can't get its lock in time is rolled back and answered 503 with Retry-After,
well before the terminal gives up (10 s), and is not booked when the lock is released."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from fvh.api import messages
from fvh.app import create_app
from fvh.db.models import ApiKey, Member

CODE = "4711000002"
TERMINAL_TIMEOUT = 10  # seconds a deployed terminal waits for an answer (docs/api.md)


@pytest.fixture
def bounded_client(config, backend):
    """A second app on the same database, with its own engine and a 1 s lock timeout."""
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock is bounded by its busy timeout (8 s)")
    bounded = create_app({**config, "DB_LOCK_TIMEOUT": 1.0, "DB_STATEMENT_TIMEOUT": 3.0})
    yield bounded.test_client()
    bounded.extensions["fvh_db"].dispose()


def test_locked_member_row_times_out_as_503_and_books_nothing(
    bounded_client, build, session_database
):
    member = build.member(code=CODE, balance_cents=10_000)
    key = build.api_key()
    path = f"/api/person/{CODE}/transaktion"
    headers = {"X-API-Key": key}
    with session_database.engine.connect() as holder:  # an admin's long transaction
        holder.execute(select(Member.id).where(Member.id == member.id).with_for_update())
        started = time.monotonic()
        answer = bounded_client.put(path, json={"beschreibung": "Kasse"}, headers=headers)
        waited = time.monotonic() - started
        holder.rollback()

    assert answer.status_code == 503
    assert answer.get_json() == {"error": messages.not_booked()}
    assert answer.headers["Retry-After"] == "1"
    assert waited < 3  # the lock timeout (1 s), not the holder's whole transaction
    assert build.balance(CODE) == 10_000  # the lock is gone and nothing was booked after it

    again = bounded_client.put(path, json={"beschreibung": "Kasse"}, headers=headers)
    assert again.status_code == 200
    assert build.balance(CODE) < 10_000


def test_key_bookkeeping_that_fails_never_fails_the_tap(
    bounded_client, build, session_database, backend
):
    """Noting the key's use waits for a lock it can't get (as two Galera nodes noting the
    same key conflict): the note is skipped, the tap is booked."""
    if backend != "postgresql":
        pytest.skip("only PostgreSQL can lock the key's row without blocking the journal's FK")
    build.member(code=CODE, balance_cents=10_000)
    key = build.api_key()
    with session_database.engine.connect() as holder:
        holder.execute(select(ApiKey.id).with_for_update(key_share=True))  # FOR NO KEY UPDATE
        answer = bounded_client.put(
            f"/api/person/{CODE}/transaktion",
            json={"beschreibung": "Kasse"},
            headers={"X-API-Key": key},
        )
        holder.rollback()

    assert answer.status_code == 200, answer.get_json()
    assert build.balance(CODE) < 10_000
    with session_database.session() as session:
        assert session.scalar(select(ApiKey.last_used_at)) is None  # the note was skipped


def test_every_bound_of_a_booking_ends_before_the_terminal_and_gunicorn_give_up():
    """The slowest tap the defaults allow ends before a terminal gives up (10 s): the last
    run of its transaction starts within `Retries.within` and waits for a lock at most the
    lock timeout (a tap's three statements do nothing else that takes time). Gunicorn
    never kills a worker in the middle of a booking, even one whose statement runs to the
    statement timeout."""
    from fvh.config import load_config
    from fvh.db import Retries
    from fvh.ops.serving import gunicorn_options

    config = load_config(env_file=False)
    retries = Retries()
    assert config.db_lock_timeout < config.db_statement_timeout
    assert retries.within + config.db_lock_timeout < TERMINAL_TIMEOUT
    timeout = gunicorn_options(config, "127.0.0.1:0")["timeout"]
    assert timeout > retries.within + config.db_statement_timeout
