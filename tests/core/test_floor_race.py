"""Many terminals tapping one account at once never take it below its floor."""

from __future__ import annotations

import base64
import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from fvh.core import ledger
from fvh.db.models import Transaction

PROCESSES = 5
THREADS_PER_PROCESS = 10
TOKEN = bytes.fromhex("04a22b1c")

pytestmark = pytest.mark.slow  # five spawned processes start together after 4 s


def _tap_worker(args: tuple) -> list[tuple[int, dict]]:
    """One process: its own app and connection pool, THREADS_PER_PROCESS taps at once."""
    config, key, code, start_at = args
    import time

    from fvh.app import create_app

    app = create_app(config)
    answers: list[tuple[int, dict]] = []

    def tap(i: int) -> tuple[int, dict]:
        client = app.test_client()
        headers = {"X-API-Key": key}
        if i % 2:
            response = client.put(
                "/api/nfc-transaktion",
                json={"token": base64.b64encode(TOKEN).decode(), "beschreibung": f"Kasse {i}"},
                headers=headers,
            )
        else:
            response = client.put(
                f"/api/person/{code}/transaktion", json={"beschreibung": f"QR {i}"}, headers=headers
            )
        return response.status_code, response.get_json()

    time.sleep(max(0.0, start_at - time.time()))  # all processes start tapping together
    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        answers = list(pool.map(tap, range(THREADS_PER_PROCESS)))
    app.extensions["fvh_db"].dispose()
    return answers


def test_fifty_concurrent_taps_book_exactly_what_the_floor_allows(config, build, database):
    import time

    member = build.member(code="5555555555", first_name="Erika", balance_cents=1000)
    build.token(member, TOKEN)
    key = build.api_key()

    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 4.0  # leave time for the spawned processes to import and connect
    with context.Pool(PROCESSES) as pool:
        results = pool.map(_tap_worker, [(dict(config), key, member.code, start_at)] * PROCESSES)
    answers = [answer for process in results for answer in process]

    assert len(answers) == PROCESSES * THREADS_PER_PROCESS == 50
    assert all(status == 200 for status, _ in answers), answers
    booked = [body for _, body in answers if "saldo" in body]
    blocked = [body for _, body in answers if body.get("action") == "block"]
    assert len(booked) == 10
    assert len(blocked) == 40
    # Every successful answer reports a distinct balance from 9 down to 0.
    assert sorted(body["saldo"] for body in booked) == list(range(10))

    assert build.balance(member.code) == 0
    with database.session() as session:
        journal = session.scalar(
            select(func.sum(Transaction.amount_cents)).where(Transaction.member_id == member.id)
        )
        assert journal == 0
        assert ledger.check(session) == []
