"""A tap whose COMMIT loses its connection is answered with what really happened.

The connection really breaks: the app reaches MariaDB or PostgreSQL through a TCP proxy on
loopback that cuts it while the COMMIT is on the way (`tests/lossy_proxy.py`). The server
then either committed (the answer was lost) or rolled back (the COMMIT never arrived); FVH
looks the booking up by its reference and must answer accordingly. A booked tap is never
answered as failed, and a tap answered "not booked" is never in the journal.
"""

from __future__ import annotations

import base64
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fvh.api import messages
from fvh.db.models import Member, Transaction
from tests.lossy_proxy import Cut, lossy_proxy

CODE = "4711000001"
TOKEN = b"\x04\x8a\x2b\x1c"
START_CENTS = 10_000
ROUTES = {
    "code": (f"/api/person/{CODE}/transaktion", {"beschreibung": "Kasse Theke"}),
    "nfc": (
        "/api/nfc-transaktion",
        {"token": base64.b64encode(TOKEN).decode(), "beschreibung": "Kasse Theke"},
    ),
}


@pytest.fixture
def proxy(database_url, backend):
    if backend == "sqlite":
        pytest.skip("SQLite has no connection that could break during COMMIT")
    url = make_url(database_url)
    with lossy_proxy(url.host or "127.0.0.1", url.port or 0) as running:
        yield running


@pytest.fixture
def config(config, proxy, database_url):
    """The app's own engine, connected through the proxy."""
    through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return {**config, "DATABASE_URL": through_proxy.render_as_string(hide_password=False)}


@pytest.fixture
def member(build):
    created = build.member(code=CODE, first_name="Jürgen", balance_cents=START_CENTS)
    build.token(created, TOKEN)
    return created


@pytest.fixture
def api_key(build, client) -> str:
    """A key whose use was just noted: the armed COMMIT is then the booking's own (a key's
    use is noted at most once a minute, in a transaction of its own)."""
    key = build.api_key()
    assert client.get("/api/health-protected", headers={"X-API-Key": key}).status_code == 200
    return key


def tap(client, api_key: str, via: str, **headers: str):
    path, body = ROUTES[via]
    return client.put(path, json=body, headers={"X-API-Key": api_key, **headers})


def taps_booked(database) -> tuple[int, int]:
    """The member's journal rows from terminals and the balance, read past the proxy."""
    with database.session() as session:
        rows = session.scalar(
            select(func.count())
            .select_from(Transaction)
            .join(Member, Member.id == Transaction.member_id)
            .where(Member.code == CODE, Transaction.description == "Kasse Theke")
        )
        balance = session.scalar(select(Member.balance_cents).where(Member.code == CODE))
        return rows, balance


@pytest.mark.parametrize("via", ROUTES)
def test_commit_the_server_took_is_answered_booked(
    client, api_key, member, proxy, session_database, via
):
    proxy.arm(Cut.AFTER)
    answer = tap(client, api_key, via)

    assert proxy.cuts == 1
    rows, balance = taps_booked(session_database)
    assert rows == 1
    assert balance < START_CENTS
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["saldo"] == balance / 100


@pytest.mark.parametrize("via", ROUTES)
def test_commit_that_never_arrived_is_answered_not_booked(
    client, api_key, member, proxy, session_database, via
):
    proxy.arm(Cut.BEFORE)
    answer = tap(client, api_key, via)

    assert proxy.cuts == 1
    assert taps_booked(session_database) == (0, START_CENTS)
    assert answer.status_code == 503
    assert answer.get_json() == {"error": messages.not_booked()}
    assert answer.headers["Retry-After"] == "1"

    again = tap(client, api_key, via)  # the terminal tries again, as told: booked once
    assert again.status_code == 200
    assert taps_booked(session_database)[0] == 1


def test_lost_commit_with_idempotency_key_then_retry_books_once(
    client, api_key, member, proxy, session_database
):
    proxy.arm(Cut.AFTER)
    first = tap(client, api_key, "nfc", **{"Idempotency-Key": "lost-commit-1"})
    retry = tap(client, api_key, "nfc", **{"Idempotency-Key": "lost-commit-1"})

    assert proxy.cuts == 1
    assert (first.status_code, first.get_json()) == (retry.status_code, retry.get_json())
    assert first.status_code == 200
    assert taps_booked(session_database)[0] == 1


def test_database_gone_after_a_lost_commit_is_unconfirmed_never_failed(
    client, api_key, member, proxy, session_database
):
    proxy.arm(Cut.AFTER, refuse_for=3.0)  # the lookups afterwards find no server
    answer = tap(client, api_key, "code")

    assert proxy.cuts == 1
    assert answer.status_code == 503
    assert answer.get_json() == {"error": messages.unconfirmed()}
    assert "Retry-After" not in answer.headers  # it may be booked: no invitation to book again
    assert taps_booked(session_database)[0] == 1  # (it was: the server had the COMMIT)
    proxy.wait_until_open()


@pytest.fixture
def bounded_config(config):
    """The statement timeout of 1 s makes the client wait at most 3 s for any answer."""
    return {**config, "DB_LOCK_TIMEOUT": 1.0, "DB_STATEMENT_TIMEOUT": 1.0}


def test_commit_without_an_answer_is_given_up_and_answered_unknown(
    bounded_config, api_key, member, proxy, session_database, backend
):
    """A COMMIT the server never answers (a hung server, a Galera cluster's flow control)
    does not hold the tap past the terminal's patience: the client gives up on the answer,
    the booking's row is still held, so the answer says the outcome is unknown."""
    if backend != "mysql":
        pytest.skip("the client-side answer timeout is mysql-connector's (read_timeout)")
    from fvh.app import create_app

    app = create_app(bounded_config)
    client = app.test_client()
    try:  # connected first: a new connection's setup sends a COMMIT of its own
        assert (
            client.get("/api/health-protected", headers={"X-API-Key": api_key}).status_code == 200
        )
        proxy.arm(Cut.STALL)
        started = time.monotonic()
        answer = tap(client, api_key, "code")
        waited = time.monotonic() - started
    finally:
        proxy.release()  # the held connection closes: the server rolls the booking back
        app.extensions["fvh_db"].dispose()

    assert proxy.cuts == 1
    assert answer.status_code == 503
    assert answer.get_json() == {"error": messages.unconfirmed()}
    assert waited < 6  # 3 s for the answer (the statement timeout + 2 s), 1.5 s of lookups
    deadline = time.monotonic() + 10
    while taps_booked(session_database) != (0, START_CENTS) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert taps_booked(session_database) == (0, START_CENTS)
