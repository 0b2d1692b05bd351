"""A member undoes their own last terminal booking: every rule, and the undo window setting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from fvh.core import audit, ledger, members, system_settings, undo
from fvh.core.errors import UndoRefused, ValidationError
from fvh.db.models import AuditEntry, Transaction, utcnow

TERMINAL = audit.Actor("api_key", "Terminal Theke")
ADMIN = audit.Actor.system("Kasse")
WINDOW = timedelta(seconds=120)


@pytest.fixture
def codes(build) -> tuple[str, str]:
    build.member(code="3000000003", first_name="Eva", balance_cents=1000)
    build.member(code="4000000004", first_name="Ole", balance_cents=1000)
    return "3000000003", "4000000004"


def tap(database, code: str) -> int:
    """A booking as a terminal makes it; returns its id."""
    with database.session() as session:
        member = members.get_by_code(session, code)
        return ledger.debit_at_terminal(session, member, "Getränk", TERMINAL).transaction_id


def actor_of(member) -> audit.Actor:
    return audit.Actor.for_member(member.id, member.full_name)


def run_undo(
    database,
    code: str,
    *,
    after: timedelta = timedelta(0),
    transaction_id=None,
    window: timedelta = WINDOW,
):
    with database.session() as session:
        member = members.get_by_code(session, code)
        return undo.undo_last_terminal_booking(
            session, member, utcnow() + after, window, actor_of(member), transaction_id
        )


def refused(database, code: str, **kwargs) -> str:
    with pytest.raises(UndoRefused) as caught:
        run_undo(database, code, **kwargs)
    return caught.value.reason


def test_undo_reverses_the_last_terminal_booking(database, build, codes):
    code, _other = codes
    booked = tap(database, code)
    assert build.balance(code) == 900
    booking = run_undo(database, code, transaction_id=booked)
    assert booking.amount_cents == 100
    assert build.balance(code) == 1000
    with database.session() as session:
        storno = session.get(Transaction, booking.transaction_id)
        assert storno.reverses_id == booked
        assert storno.booked_by_kind == "member"
        assert storno.booked_by_label == "Eva Muster"
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "transaction.reverse" in actions


def test_undo_works_only_once(database, build, codes):
    code, _other = codes
    booked = tap(database, code)
    run_undo(database, code, transaction_id=booked)
    assert refused(database, code, transaction_id=booked) == undo.NOT_LAST
    assert refused(database, code) == undo.NOT_TERMINAL
    assert build.balance(code) == 1000


def test_undo_only_within_the_window(database, build, codes):
    code, _other = codes
    tap(database, code)
    assert refused(database, code, after=timedelta(seconds=125)) == undo.EXPIRED
    assert refused(database, code, window=timedelta(0)) == undo.EXPIRED
    assert build.balance(code) == 900
    run_undo(database, code, after=timedelta(seconds=100))
    assert build.balance(code) == 1000


def test_only_a_terminal_booking_can_be_undone(database, build, codes):
    code, _other = codes
    with database.session() as session:
        member = members.get_by_code(session, code)
        admin_booking = ledger.book(session, member.id, -300, "Korrektur", ADMIN).transaction_id
    assert refused(database, code) == undo.NOT_TERMINAL
    assert refused(database, code, transaction_id=admin_booking) == undo.NOT_TERMINAL
    assert build.balance(code) == 700


def test_only_the_last_booking_can_be_undone(database, build, codes):
    code, _other = codes
    first = tap(database, code)
    tap(database, code)
    assert refused(database, code, transaction_id=first) == undo.NOT_LAST
    with database.session() as session:
        member = members.get_by_code(session, code)
        ledger.book(session, member.id, 500, "Einzahlung", ADMIN)
    # A deposit after the tap: the tap is no longer the newest entry.
    assert refused(database, code) == undo.NOT_TERMINAL
    assert build.balance(code) == 1300


def test_another_members_booking_cannot_be_undone(database, build, codes):
    code, other = codes
    mine = tap(database, code)
    theirs = tap(database, other)
    assert refused(database, code, transaction_id=theirs) == undo.NOT_OWN
    assert refused(database, code, transaction_id=999_999) == undo.NOT_OWN
    assert (build.balance(code), build.balance(other)) == (900, 900)
    run_undo(database, code, transaction_id=mine)
    assert (build.balance(code), build.balance(other)) == (1000, 900)


def test_an_admin_storno_leaves_nothing_to_undo(database, build, codes):
    code, _other = codes
    booked = tap(database, code)
    with database.session() as session:
        ledger.reverse(session, booked, ADMIN)
    assert refused(database, code, transaction_id=booked) == undo.NOT_LAST
    assert refused(database, code) == undo.NOT_TERMINAL
    assert build.balance(code) == 1000


def test_nothing_to_undo_without_bookings(database, build):
    build.member(code="5000000005")
    assert refused(database, "5000000005") == undo.NOTHING


def test_undoable_names_the_booking_and_deadline(database, codes):
    code, _other = codes
    booked = tap(database, code)
    with database.session() as session:
        member = members.get_by_code(session, code)
        offer = undo.undoable(session, member, utcnow(), WINDOW)
        assert offer is not None
        assert offer.transaction.id == booked
        assert offer.deadline == offer.transaction.created_at + WINDOW
        assert undo.undoable(session, member, utcnow() + timedelta(minutes=3), WINDOW) is None


def test_undo_window_setting_default_and_validation(database):
    with database.session() as session:
        assert system_settings.load(session).undo_window_seconds == 120
        system_settings.update(session, ADMIN, undo_window_seconds=300)
    with database.session() as session:
        assert system_settings.load(session).undo_window_seconds == 300
        for bad in (-1, 3601, True):
            with pytest.raises(ValidationError) as caught:
                system_settings.update(session, ADMIN, undo_window_seconds=bad)
            assert caught.value.field == "undo_window_seconds"
