"""A stateful model of the ledger: random sequences of bookings against the real database.

Hypothesis drives deposits, terminal taps (through the core and through the API door),
bulk bookings, reversals, undo, locking, settings changes, member deletion and idempotent
retries (the same `Idempotency-Key` again later, with another request, and twice at the
same moment from two threads). A plain in-memory model predicts every answer; after every
step the database must hold exactly what the model holds: each member's balance and lock,
every journal row (member, amount, reversal link, who booked it) and the number of stored
idempotency answers.

The default run is bounded and derandomized (a fixed seed: the same sequences every time, so
a reviewer re-runs exactly what passed); the `slow` variant explores more, randomly.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from fvh.core import audit, ledger, members, system_settings, terminal, undo
from fvh.core.errors import (
    AlreadyReversed,
    BelowMinimum,
    MemberLocked,
    MemberNotFound,
    NotFound,
    UndoRefused,
)
from fvh.core.money import cents_to_number
from fvh.db.models import IdempotencyRecord, Member, Transaction, utcnow
from tests.builders import Builder
from tests.conftest import empty_all_tables

ADMIN = audit.Actor.system("Kasse")
WINDOW = timedelta(seconds=600)
TERMINAL_KIND = "api_key"
pick = st.integers(min_value=0, max_value=1_000)  # an index into what exists, modulo its size


@dataclass
class Entry:
    id: int
    member_id: int
    amount: int
    kind: str
    reverses_id: int | None = None


@dataclass
class ModelMember:
    id: int
    code: str
    first_name: str
    min_balance: int | None
    locked: bool = False
    balance: int = 0
    alive: bool = True


@dataclass
class Ledger:
    """What the database should hold, as plain Python."""

    default_amount: int = -100
    min_balance: int = 0
    members: dict[int, ModelMember] = field(default_factory=dict)
    entries: dict[int, Entry] = field(default_factory=dict)  # live journal rows by id
    all_entry_ids: list[int] = field(default_factory=list)  # also those deleted since
    answers: dict[str, tuple[str, dict, int, dict]] = field(default_factory=dict)

    def floor(self, member: ModelMember) -> int:
        return member.min_balance if member.min_balance is not None else self.min_balance

    def tap_outcome(self, member: ModelMember) -> str:
        """What a terminal tap must do: booked, locked, blocked or unknown."""
        if not member.alive:
            return "unknown"
        if member.locked:
            return "locked"
        if member.balance + self.default_amount < self.floor(member):
            return "blocked"
        return "booked"

    def add(self, entry: Entry) -> None:
        # A live row's id is new; SQLite (rowids) may give a deleted member's ids out again.
        assert entry.id not in self.entries
        self.entries[entry.id] = entry
        if entry.id not in self.all_entry_ids:
            self.all_entry_ids.append(entry.id)
        self.members[entry.member_id].balance += entry.amount

    def newest(self, member_id: int) -> Entry | None:
        own = [e for e in self.entries.values() if e.member_id == member_id]
        return max(own, key=lambda e: e.id) if own else None

    def is_reversed(self, entry_id: int) -> bool:
        return any(e.reverses_id == entry_id for e in self.entries.values())


class LedgerMachine(RuleBasedStateMachine):
    """Configured per backend by `run` (the database, an app for the API door)."""

    app = None
    database = None

    def __init__(self) -> None:
        super().__init__()
        self.model = Ledger()
        self.codes = itertools.count(1_000_000_001)
        self.keys = itertools.count(1)

    @initialize()
    def start_empty(self) -> None:
        empty_all_tables(self.database)
        self.api_key = Builder(self.database).api_key()
        self.client = self.app.test_client()
        for min_balance in (None, -300):
            self.add_member(min_balance=min_balance, locked=False)

    # --- helpers -------------------------------------------------------------------------

    def _member(self, index: int) -> ModelMember:
        ids = sorted(self.model.members)
        return self.model.members[ids[index % len(ids)]]

    def _alive(self) -> list[ModelMember]:
        return [m for m in self.model.members.values() if m.alive]

    def _booked_entry(self, member_id: int, amount: int, kind: str, reverses=None) -> Entry:
        """The newest journal row of the member, which the step must have just written."""
        with self.database.session() as session:
            row = session.execute(
                select(Transaction.id, Transaction.amount_cents, Transaction.booked_by_kind)
                .where(Transaction.member_id == member_id)
                .order_by(Transaction.id.desc())
                .limit(1)
            ).one()
        assert (row.amount_cents, row.booked_by_kind) == (amount, kind)
        return Entry(row.id, member_id, amount, kind, reverses)

    def _http_tap(self, member: ModelMember, key: str | None, description: str, client=None):
        headers = {"X-API-Key": self.api_key}
        if key is not None:
            headers["Idempotency-Key"] = key
        response = (client or self.client).put(
            f"/api/person/{member.code}/transaktion",
            json={"beschreibung": description},
            headers=headers,
        )
        return response.status_code, response.get_json()

    def _expect_http_answer(self, member: ModelMember, status: int, body: dict) -> None:
        """Check a first answer against the model, and apply a booking to it."""
        outcome = self.model.tap_outcome(member)
        if outcome == "booked":
            entry = self._booked_entry(member.id, self.model.default_amount, TERMINAL_KIND)
            self.model.add(entry)
            assert status == 200, body
            assert body["saldo"] == cents_to_number(member.balance)
            assert body["vorname"] == member.first_name
        elif outcome == "unknown":
            assert status == 404, body
        else:
            action = {"blocked": "block", "locked": "locked"}[outcome]
            assert (status, body.get("action")) == (200, action), body

    # --- rules ---------------------------------------------------------------------------

    @precondition(lambda self: len(self.model.members) < 6)
    @rule(
        min_balance=st.sampled_from([None, None, -500, 200]),
        locked=st.booleans(),
    )
    def add_member(self, min_balance: int | None, locked: bool) -> None:
        code = str(next(self.codes))
        first_name = f"M{code[-3:]}"
        with self.database.session() as session:
            created = members.create(
                session,
                members.NewMember(
                    code=code,
                    first_name=first_name,
                    last_name="Modell",
                    locked=locked,
                    min_balance_cents=min_balance,
                ),
                ADMIN,
            )
            session.flush()
            member_id = created.id
        self.model.members[member_id] = ModelMember(
            member_id, code, first_name, min_balance, locked=locked
        )

    @rule(which=pick, amount=st.integers(-1_000, 3_000).filter(bool))
    def deposit(self, which: int, amount: int) -> None:
        member = self._member(which)
        try:
            with self.database.session() as session:
                ledger.book(session, member.id, amount, "Einzahlung", ADMIN)
        except MemberNotFound:
            assert not member.alive
            return
        assert member.alive
        self.model.add(self._booked_entry(member.id, amount, "system"))

    @rule(which=pick)
    def tap_through_core(self, which: int) -> None:
        member = self._member(which)
        expected = self.model.tap_outcome(member)
        with self.database.session() as session:  # the core commits the booking itself
            result = terminal.tap(session, self.api_key, terminal.ByCode(member.code), "Getränk")
        outcome = result.outcome
        kinds = {
            terminal.Booked: "booked",
            terminal.Blocked: "blocked",
            terminal.Locked: "locked",
            terminal.Unknown: "unknown",
        }
        assert kinds.get(type(outcome)) == expected, (outcome, member)
        if expected == "booked":
            entry = self._booked_entry(member.id, self.model.default_amount, TERMINAL_KIND)
            self.model.add(entry)
            assert outcome.balance_cents == member.balance

    @precondition(lambda self: any(m.alive for m in self.model.members.values()))
    @rule(which=pick)
    def debit_at_terminal(self, which: int) -> None:
        """The ledger's own refusals: BelowMinimum and MemberLocked, nothing booked."""
        alive = self._alive()
        member = alive[which % len(alive)]
        expected = self.model.tap_outcome(member)
        actor = audit.Actor(TERMINAL_KIND, "API: Modell")
        refusal: MemberLocked | BelowMinimum | None = None
        try:
            with self.database.session() as session:
                card = members.holder(session, member_id=member.id)
                assert card is not None
                booking = ledger.debit_at_terminal(session, card, "Kasse", actor)
        except (MemberLocked, BelowMinimum) as exc:
            refusal = exc
        if isinstance(refusal, MemberLocked):
            assert expected == "locked"
        elif isinstance(refusal, BelowMinimum):
            assert expected == "blocked"
            floor = self.model.floor(member)
            assert (refusal.balance_cents, refusal.floor_cents) == (member.balance, floor)
        else:
            assert expected == "booked"
            self.model.add(self._booked_entry(member.id, self.model.default_amount, "api_key"))
            assert booking.balance_cents == member.balance

    @rule(
        which=st.lists(pick, min_size=1, max_size=4), amount=st.integers(-500, 2_000).filter(bool)
    )
    def bulk_booking(self, which: list[int], amount: int) -> None:
        chosen = {self._member(i).id: self._member(i) for i in which}
        try:
            with self.database.session() as session:
                bookings = ledger.book_many(session, chosen, amount, "Umlage", ADMIN)
        except MemberNotFound:
            assert not all(m.alive for m in chosen.values())  # all or nothing
            return
        assert all(m.alive for m in chosen.values())
        assert [b.member_id for b in bookings] == sorted(chosen)
        for booking in bookings:
            self.model.add(Entry(booking.transaction_id, booking.member_id, amount, "system"))
            assert booking.balance_cents == chosen[booking.member_id].balance

    @precondition(lambda self: self.model.all_entry_ids)
    @rule(which=pick)
    def reverse(self, which: int) -> None:
        entry_id = self.model.all_entry_ids[which % len(self.model.all_entry_ids)]
        entry = self.model.entries.get(entry_id)
        try:
            with self.database.session() as session:
                booking = ledger.reverse(session, entry_id, ADMIN)
        except NotFound:
            assert entry is None  # deleted with its member
            return
        except AlreadyReversed:
            assert entry is not None
            assert entry.reverses_id is not None or self.model.is_reversed(entry_id)
            return
        assert entry is not None and entry.reverses_id is None
        assert not self.model.is_reversed(entry_id)
        self.model.add(
            Entry(booking.transaction_id, entry.member_id, -entry.amount, "system", entry_id)
        )

    @precondition(lambda self: any(m.alive for m in self.model.members.values()))
    @rule(which=pick, name_one=st.booleans(), other=pick)
    def undo_last_tap(self, which: int, name_one: bool, other: int) -> None:
        alive = self._alive()
        member = alive[which % len(alive)]
        chosen = None
        if name_one and self.model.all_entry_ids:
            chosen = self.model.all_entry_ids[other % len(self.model.all_entry_ids)]
        expected = self._undo_expectation(member, chosen)
        refused: str | None = None
        try:
            with self.database.session() as session:
                row = session.get(Member, member.id)
                actor = audit.Actor.for_member(row.id, row.full_name)
                booking = undo.undo_last_terminal_booking(
                    session, row, utcnow(), WINDOW, actor, chosen
                )
        except UndoRefused as exc:
            refused = exc.reason
        assert refused == expected, (refused, expected, member, chosen)
        if refused is not None:
            return
        newest = self.model.newest(member.id)
        assert newest is not None
        self.model.add(
            Entry(booking.transaction_id, member.id, -newest.amount, "member", newest.id)
        )

    def _undo_expectation(self, member: ModelMember, chosen: int | None) -> str | None:
        """The rule that refuses the undo, in the order `undo.check` applies them."""
        if chosen is not None:
            entry = self.model.entries.get(chosen)
            if entry is None or entry.member_id != member.id:
                return undo.NOT_OWN
        newest = self.model.newest(member.id)
        if newest is None:
            return undo.NOTHING
        if chosen is not None and newest.id != chosen:
            return undo.NOT_LAST
        if newest.kind != TERMINAL_KIND or newest.reverses_id is not None:
            return undo.NOT_TERMINAL
        if self.model.is_reversed(newest.id):
            return undo.ALREADY
        return None

    @precondition(lambda self: any(m.alive for m in self.model.members.values()))
    @rule(which=pick, locked=st.booleans())
    def lock(self, which: int, locked: bool) -> None:
        alive = self._alive()
        member = alive[which % len(alive)]
        with self.database.session() as session:
            members.set_locked(session, session.get(Member, member.id), locked, ADMIN)
        member.locked = locked

    @rule(default=st.sampled_from([-100, -150, -250]), floor=st.sampled_from([0, -200, 100]))
    def change_settings(self, default: int, floor: int) -> None:
        with self.database.session() as session:
            system_settings.update(
                session, ADMIN, default_amount_cents=default, min_balance_cents=floor
            )
        self.model.default_amount, self.model.min_balance = default, floor

    @precondition(lambda self: any(m.alive for m in self.model.members.values()))
    @rule(which=pick)
    def delete_member(self, which: int) -> None:
        alive = self._alive()
        member = alive[which % len(alive)]
        with self.database.session() as session:
            members.delete(session, session.get(Member, member.id), ADMIN)
        member.alive = False
        member.balance = 0
        for entry_id in [e.id for e in self.model.entries.values() if e.member_id == member.id]:
            del self.model.entries[entry_id]

    # --- idempotent retries through the API door -------------------------------------------

    @rule(which=pick)
    def tap_with_key(self, which: int) -> None:
        member = self._member(which)
        key = f"k-{next(self.keys)}"
        description = f"Theke {key}"
        status, body = self._http_tap(member, key, description)
        self._expect_http_answer(member, status, body)
        self.model.answers[key] = (member.code, {"beschreibung": description}, status, body)

    @precondition(lambda self: self.model.answers)
    @rule(which=pick)
    def retry_same_key(self, which: int) -> None:
        """A retry gets the first answer and books nothing, whatever changed since."""
        key = sorted(self.model.answers)[which % len(self.model.answers)]
        code, request_body, status, body = self.model.answers[key]
        response = self.client.put(
            f"/api/person/{code}/transaktion",
            json=request_body,
            headers={"X-API-Key": self.api_key, "Idempotency-Key": key},
        )
        assert (response.status_code, response.get_json()) == (status, body)

    @precondition(lambda self: self.model.answers)
    @rule(which=pick)
    def same_key_other_request(self, which: int) -> None:
        key = sorted(self.model.answers)[which % len(self.model.answers)]
        code, request_body, _status, _body = self.model.answers[key]
        response = self.client.put(
            f"/api/person/{code}/transaktion",
            json={"beschreibung": request_body["beschreibung"] + " anders"},
            headers={"X-API-Key": self.api_key, "Idempotency-Key": key},
        )
        assert response.status_code == 422, response.get_json()

    @rule(which=pick)
    def same_key_twice_at_once(self, which: int) -> None:
        """Two sessions send one request with one key at the same moment: one booking, and
        both get the same answer (the second waits for the first and replays it)."""
        member = self._member(which)
        key = f"k-{next(self.keys)}"
        description = f"Doppelt {key}"
        answers: list[tuple[int, dict]] = []
        gate = threading.Barrier(2)

        def send() -> None:
            client = self.app.test_client()
            gate.wait(timeout=10)
            answers.append(self._http_tap(member, key, description, client))

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(answers) == 2, answers
        assert answers[0] == answers[1], answers
        status, body = answers[0]
        self._expect_http_answer(member, status, body)
        self.model.answers[key] = (member.code, {"beschreibung": description}, status, body)

    # --- the comparison after every step ---------------------------------------------------

    @invariant()
    def database_equals_model(self) -> None:
        if self.database is None or not self.model.members:
            return
        with self.database.session() as session:
            rows = session.execute(select(Member.id, Member.balance_cents, Member.locked)).all()
            journal = session.execute(
                select(
                    Transaction.id,
                    Transaction.member_id,
                    Transaction.amount_cents,
                    Transaction.booked_by_kind,
                    Transaction.reverses_id,
                )
            ).all()
            stored_answers = session.scalar(select(func.count()).select_from(IdempotencyRecord))
            mismatches = ledger.check(session)
        alive = {m.id: (m.balance, m.locked) for m in self.model.members.values() if m.alive}
        assert {r.id: (r.balance_cents, r.locked) for r in rows} == alive
        expected_journal = {
            e.id: (e.member_id, e.amount, e.kind, e.reverses_id)
            for e in self.model.entries.values()
        }
        assert {r.id: tuple(r[1:]) for r in journal} == expected_journal
        assert len(journal) == len(self.model.entries)
        assert mismatches == []
        assert stored_answers == len(self.model.answers)
        for member in self.model.members.values():
            if member.alive:
                journal_sum = sum(
                    e.amount for e in self.model.entries.values() if e.member_id == member.id
                )
                assert journal_sum == member.balance


def run(app, database, **options) -> None:
    machine = type("Machine", (LedgerMachine,), {"app": app, "database": database})
    run_state_machine_as_test(
        machine,
        settings=settings(
            deadline=None,
            database=None,  # no example database written into the working tree
            suppress_health_check=[HealthCheck.too_slow],
            **options,
        ),
    )


def test_ledger_matches_its_model(app, database):
    run(app, database, max_examples=30, stateful_step_count=40, derandomize=True)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ledger_matches_its_model_longer(app, database):
    run(app, database, max_examples=120, stateful_step_count=40)


def test_the_model_catches_a_wrong_balance(app, database):
    """The comparison can fail: a balance changed past the ledger is found at once."""
    machine = type("Machine", (LedgerMachine,), {"app": app, "database": database})()
    machine.start_empty()
    machine.database_equals_model()
    member = next(iter(machine.model.members.values()))
    with database.session() as session:
        session.get(Member, member.id).balance_cents += 1
    with pytest.raises(AssertionError):
        machine.database_equals_model()
    with database.session() as session:
        session.get(Member, member.id).balance_cents -= 1
    json.dumps(machine.model.answers)  # the stored answers stay plain data
