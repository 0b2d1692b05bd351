"""`Idempotency-Key`: a retried booking is answered from the first answer, never booked twice."""

from __future__ import annotations

import base64
import threading

import pytest
from sqlalchemy import func, select

from fvh.core import ledger
from fvh.core.audit import Actor
from fvh.db.models import Member, Transaction

CODE = "0123456789"
TOKEN = bytes.fromhex("04a22b1c")
ROUTES = {
    "code": (f"/api/person/{CODE}/transaktion", {"beschreibung": "Kasse Theke"}),
    "nfc": (
        "/api/nfc-transaktion",
        {"token": base64.b64encode(TOKEN).decode(), "beschreibung": "Kasse Theke"},
    ),
}


def journal_size(database) -> int:
    with database.session() as session:
        query = (
            select(func.count())
            .select_from(Transaction)
            .join(Member, Member.id == Transaction.member_id)
            .where(Member.code == CODE)
        )
        return session.scalar(query)


def put(client, api_key: str, via: str, idempotency_key: str, body: dict | None = None):
    path, default = ROUTES[via]
    return client.put(
        path,
        json=default if body is None else body,
        headers={"X-API-Key": api_key, "Idempotency-Key": idempotency_key},
    )


@pytest.fixture
def member(build):
    created = build.member(code=CODE, first_name="Jürgen", balance_cents=10_000)
    build.token(created, TOKEN)
    return created


@pytest.fixture
def api_key(build) -> str:
    return build.api_key()


@pytest.mark.parametrize("via", ROUTES)
def test_hundred_replays_book_once_with_identical_answers(
    client, api_key, member, build, database, via
):
    answers = [put(client, api_key, via, "tap-0001") for _ in range(100)]
    first = answers[0]
    assert first.status_code == 200
    assert first.get_json()["saldo"] == 99
    assert type(first.get_json()["saldo"]) is int
    assert all(a.status_code == first.status_code for a in answers)
    assert all(a.get_json() == first.get_json() for a in answers)
    assert all(a.data == first.data for a in answers)
    assert build.balance(CODE) == 9_900
    assert journal_size(database) == 2  # the starting credit and one booking
    # A new key is a new booking.
    assert put(client, api_key, via, "tap-0002").get_json()["saldo"] == 98
    assert build.balance(CODE) == 9_800


@pytest.mark.parametrize("via", ROUTES)
def test_replay_returns_the_stored_block_answer(client, api_key, build, database, via):
    created = build.member(code=CODE, first_name="Jürgen", balance_cents=50)
    build.token(created, TOKEN)
    first = put(client, api_key, via, "tap-block")
    assert first.get_json()["action"] == "block"
    with database.session() as session:  # money arrives before the terminal retries
        ledger.book(session, created.id, 1000, "Einzahlung", Actor.system())
    replay = put(client, api_key, via, "tap-block")
    assert (replay.status_code, replay.data) == (first.status_code, first.data)
    assert build.balance(CODE) == 1050


@pytest.mark.parametrize("via", ROUTES)
def test_same_key_with_another_body_is_422_and_books_nothing(
    client, api_key, member, build, database, via
):
    _, body = ROUTES[via]
    assert put(client, api_key, via, "tap-0001").status_code == 200
    other = put(client, api_key, via, "tap-0001", {**body, "beschreibung": "Kasse Halle"})
    assert other.status_code == 422
    assert list(other.get_json()) == ["error"]
    elsewhere = put(client, api_key, "nfc" if via == "code" else "code", "tap-0001")
    assert elsewhere.status_code == 422
    assert build.balance(CODE) == 9_900
    assert journal_size(database) == 2


@pytest.mark.parametrize("via", ROUTES)
def test_key_is_scoped_per_api_key(client, api_key, member, build, database, via):
    second_terminal = build.api_key(client="Kasse Halle")
    first = put(client, api_key, via, "tap-0001")
    second = put(client, second_terminal, via, "tap-0001")
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.get_json()["saldo"], second.get_json()["saldo"]) == (99, 98)
    # Each API key replays its own first answer.
    assert put(client, api_key, via, "tap-0001").data == first.data
    assert put(client, second_terminal, via, "tap-0001").data == second.data
    assert build.balance(CODE) == 9_800
    assert journal_size(database) == 3


@pytest.mark.parametrize("via", ROUTES)
def test_concurrent_requests_with_one_key_book_once(app, api_key, member, build, database, via):
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    answers: list[tuple[int, bytes] | BaseException] = [None] * threads_count  # type: ignore[list-item]

    def tap(index: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            response = put(client, api_key, via, "tap-concurrent")
            answers[index] = (response.status_code, response.data)
        except BaseException as exc:  # reported below, with the other answers
            answers[index] = exc

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    assert build.balance(CODE) == 9_900
    assert journal_size(database) == 2
    booked = [a for a in answers if a[0] == 200]
    assert booked, answers
    assert all(a == booked[0] for a in booked), booked
    assert all(a[0] in (200, 409) for a in answers), answers
    # After the race, the key replays the answer of the one booking.
    replay = put(app.test_client(), api_key, via, "tap-concurrent")
    assert (replay.status_code, replay.data) == booked[0]


@pytest.mark.parametrize("via", ROUTES)
def test_key_length(client, api_key, member, build, via):
    too_long = put(client, api_key, via, "k" * 256)
    assert too_long.status_code == 400
    assert list(too_long.get_json()) == ["error"]
    assert build.balance(CODE) == 10_000
    assert put(client, api_key, via, "k" * 255).status_code == 200
    assert build.balance(CODE) == 9_900
