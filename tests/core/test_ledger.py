"""The ledger: bookings, floors, reversals, deletion and the consistency check."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from fvh.core import audit, ledger, members, system_settings
from fvh.core.errors import (
    AlreadyReversed,
    BelowMinimum,
    MemberLocked,
    MemberNotFound,
    NotFound,
    ValidationError,
)
from fvh.db.models import AuditEntry, Member, Transaction

TERMINAL = audit.Actor.system("Terminal")


@pytest.fixture
def admin(build) -> audit.Actor:
    member = build.member(code="1999999999", first_name="Admin", last_name="Test", is_admin=True)
    return audit.Actor.for_member(member.id, "Admin Test")


def _member(session, code):
    return members.get_by_code(session, code)


def test_credit_and_debit_update_balance_and_journal_together(admin, build, database):
    build.member(code="1000000001")
    with database.session() as s:
        m = _member(s, "1000000001")
        first = ledger.book(s, m.id, 2500, "Einzahlung", admin)
        second = ledger.book(s, m.id, -750, "Korrektur", admin)
    assert (first.balance_cents, second.balance_cents) == (2500, 1750)
    with database.session() as s:
        entries = s.scalars(select(Transaction).order_by(Transaction.id)).all()
        assert [e.amount_cents for e in entries] == [2500, -750]
        assert entries[0].booked_by_kind == "member"
        assert entries[0].booked_by_label == "Admin Test"
        assert _member(s, "1000000001").balance_cents == 1750


def test_admin_correction_ignores_floor_and_lock(admin, build, database):
    build.member(code="1000000002", locked=True)
    with database.session() as s:
        booking = ledger.book(s, _member(s, "1000000002").id, -500, "Korrektur", admin)
    assert booking.balance_cents == -500


def test_terminal_debit_respects_global_floor(build, database):
    build.member(code="1000000003", balance_cents=150)
    with database.session() as s:
        m = _member(s, "1000000003")
        assert ledger.debit_at_terminal(s, m, "Kasse", TERMINAL).balance_cents == 50
        with pytest.raises(BelowMinimum) as info:
            ledger.debit_at_terminal(s, m, "Kasse", TERMINAL)
    assert info.value.balance_cents == 50
    assert info.value.floor_cents == 0
    assert build.balance("1000000003") == 50


def test_member_minimum_overrides_global_floor(build, database):
    build.member(code="1000000004", min_balance_cents=-300)
    with database.session() as s:
        m = _member(s, "1000000004")
        balances = [
            ledger.debit_at_terminal(s, m, "Kasse", TERMINAL).balance_cents for _ in range(3)
        ]
        with pytest.raises(BelowMinimum):
            ledger.debit_at_terminal(s, m, "Kasse", TERMINAL)
    assert balances == [-100, -200, -300]


def test_global_floor_and_default_amount_come_from_settings(admin, build, database):
    build.member(code="1000000005", balance_cents=100)
    with database.session() as s:
        system_settings.update(s, admin, min_balance_cents=-500, default_amount_cents=-250)
    with database.session() as s:
        m = _member(s, "1000000005")
        assert ledger.debit_at_terminal(s, m, "Kasse", TERMINAL).balance_cents == -150
        assert ledger.debit_at_terminal(s, m, "Kasse", TERMINAL).balance_cents == -400
        with pytest.raises(BelowMinimum):
            ledger.debit_at_terminal(s, m, "Kasse", TERMINAL)


def test_locked_member_cannot_book_at_terminal(build, database):
    build.member(code="1000000006", first_name="Karl", balance_cents=1000, locked=True)
    with database.session() as s, pytest.raises(MemberLocked) as info:
        ledger.debit_at_terminal(s, _member(s, "1000000006"), "Kasse", TERMINAL)
    assert info.value.first_name == "Karl"
    assert build.balance("1000000006") == 1000


def test_credit_is_allowed_below_floor(admin, build, database):
    build.member(code="1000000007")
    with database.session() as s:
        m = _member(s, "1000000007")
        ledger.book(s, m.id, -1000, "Altschulden", admin)
        assert ledger.book(s, m.id, 300, "Einzahlung", admin).balance_cents == -700


@pytest.mark.parametrize("amount", [0, 1.5, "100", True, 10**12])
def test_invalid_amounts_are_refused(admin, build, database, amount):
    build.member(code="1000000008")
    with database.session() as s, pytest.raises(ValidationError):
        ledger.book(s, _member(s, "1000000008").id, amount, "x", admin)
    assert build.balance("1000000008") == 0


def test_description_rules(admin, build, database):
    build.member(code="1000000009")
    with database.session() as s:
        m = _member(s, "1000000009")
        with pytest.raises(ValidationError):
            ledger.book(s, m.id, 100, "", admin)
        with pytest.raises(ValidationError):
            ledger.book(s, m.id, 100, "x" * 256, admin)


def test_unknown_member_is_not_found(admin, database):
    with database.session() as s, pytest.raises(MemberNotFound):
        ledger.book(s, 999999, 100, "Einzahlung", admin)


def test_reverse_creates_linked_counter_entry_once(admin, build, database):
    build.member(code="1000000010")
    with database.session() as s:
        original = ledger.book(s, _member(s, "1000000010").id, 500, "Einzahlung", admin)
    with database.session() as s:
        storno = ledger.reverse(s, original.transaction_id, admin)
    assert storno.balance_cents == 0
    with database.session() as s:
        entry = s.get(Transaction, storno.transaction_id)
        assert entry.reverses_id == original.transaction_id
        assert entry.amount_cents == -500
        assert entry.description == "Storno: Einzahlung"
        with pytest.raises(AlreadyReversed):
            ledger.reverse(s, original.transaction_id, admin)
        with pytest.raises(AlreadyReversed):
            ledger.reverse(s, storno.transaction_id, admin)
        with pytest.raises(NotFound):
            ledger.reverse(s, 987654, admin)
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "transaction.reverse"))


def test_book_many_is_all_or_nothing(admin, build, database):
    a = build.member(code="1000000011")
    b = build.member(code="1000000012")
    with database.session() as s:
        bookings = ledger.book_many(s, [b.id, a.id, a.id], 1000, "Grillfest", admin)
    assert sorted(x.member_id for x in bookings) == sorted([a.id, b.id])
    with pytest.raises(MemberNotFound), database.session() as s:
        ledger.book_many(s, [a.id, 999999], 1000, "Grillfest", admin)
    assert build.balance("1000000011") == 1000
    assert build.balance("1000000012") == 1000


def test_delete_journal_of_one_member_and_of_everyone(admin, build, database):
    build.member(code="1000000013", balance_cents=700)
    build.member(code="1000000014", balance_cents=300)
    with database.session() as s:
        assert ledger.delete_journal(s, admin, _member(s, "1000000013")) == 1
    assert build.balance("1000000013") == 0
    assert build.balance("1000000014") == 300
    with database.session() as s:
        assert ledger.delete_journal(s, admin) == 1
        assert ledger.total_balance(s) == 0
        actions = s.scalars(select(AuditEntry.action)).all()
    assert actions.count("journal.delete") == 2


@pytest.mark.corrupts_ledger
def test_check_finds_a_corrupted_balance(build, database):
    build.member(code="1000000015", balance_cents=500)
    build.member(code="1000000016")
    with database.session() as s:
        assert ledger.check(s) == []
        s.execute(update(Member).where(Member.code == "1000000015").values(balance_cents=400))
        s.execute(update(Member).where(Member.code == "1000000016").values(balance_cents=1))
    with database.session() as s:
        found = {(m.code, m.balance_cents, m.journal_cents) for m in ledger.check(s)}
    assert found == {("1000000015", 400, 500), ("1000000016", 1, 0)}
