"""The ledger: every booking goes through `_post_entry`, atomically.

Each member's balance is materialised in `members.balance_cents` and changed only by a
relative UPDATE in the same transaction as the journal row, so the journal sum always equals
the balance. A floor-checked debit is a *conditional* UPDATE whose row count says whether it
happened: concurrent terminals can never overdraw an account, whatever the backend.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Insert,
    Update,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.util import identity_key

from fvh.core import audit, notify
from fvh.core import system_settings as settings_mod
from fvh.core.errors import (
    N_,
    AlreadyReversed,
    BelowMinimum,
    DomainError,
    MemberLocked,
    MemberNotFound,
    NotFound,
    TokenNotFound,
    ValidationError,
)
from fvh.core.members import AccountHolder, holder, matching
from fvh.core.money import MAX_ABS_CENTS
from fvh.db.models import Member, Token, Transaction, utcnow

MAX_DESCRIPTION_LENGTH = 255
_MEMBERS = Member.__table__
_JOURNAL = Transaction.__table__
_TOKENS = Token.__table__


@dataclass(frozen=True)
class Booking:
    """The outcome of a booking: the journal entry and the member's new balance.

    `ref` is the entry's server-made reference: if the connection breaks during the COMMIT,
    `find_booking` tells by it whether the booking happened.
    """

    transaction_id: int
    member_id: int
    amount_cents: int
    balance_cents: int
    ref: str


def _validate_description(description: object) -> str:
    if not isinstance(description, str):
        raise ValidationError(N_("Die Beschreibung muss ein Text sein."), "description")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError(
            N_("Die Beschreibung ist zu lang (höchstens %(max)d Zeichen)."),
            "description",
            max=MAX_DESCRIPTION_LENGTH,
        )
    return description


def _post_entry(
    session: Session,
    member_id: int,
    amount_cents: int,
    description: str,
    actor: audit.Actor,
    *,
    floor_cents: int | None = None,
    unlocked_only: bool = False,
    reverses_id: int | None = None,
    system: settings_mod.SystemSettings | None = None,
    member: Member | AccountHolder | None = None,
    token_id: int | None = None,
) -> Booking | None:
    """Change the balance and write the journal row; None when a condition refused it.

    `floor_cents` is the global minimum; a member's own minimum takes precedence. A floor
    applies only to debits: credits are always allowed, so members in debt can pay.
    `token_id` books only while that token still belongs to the member (a tap looks the
    token up before its writing transaction). `member` spares reading it again for the mails.

    Core statements on the session's connection: every tap of every terminal runs here.
    """
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise ValidationError(N_("Der Betrag muss eine ganze Zahl von Cent sein."), "amount")
    if amount_cents == 0 or abs(amount_cents) > MAX_ABS_CENTS:
        raise ValidationError(
            N_("Der Betrag muss ungleich 0 und im erlaubten Bereich sein."), "amount"
        )
    session.flush()  # the Core statements below run on the connection, past the ORM
    dialect = session.get_bind().dialect
    returning = dialect.update_returning
    # MariaDB has no UPDATE … RETURNING, but its INSERT … RETURNING can read the new balance.
    balance_from_entry = not returning and dialect.insert_returning
    change = _balance_change(
        unlocked_only=unlocked_only,
        floored=floor_cents is not None and amount_cents < 0,
        token_guard=token_id is not None,
        returning=returning,
    )
    now = utcnow()
    ref = secrets.token_hex(16)
    params = {"member_id": member_id, "amount": amount_cents, "floor": floor_cents, "now": now}
    result = session.connection().execute(change, {**params, "token_id": token_id})
    if returning:
        balance = result.scalar_one_or_none()
        changed = balance is not None
    else:
        changed = result.rowcount == 1
    if not changed:
        return None  # a condition did not hold: nothing was changed
    entry = session.connection().execute(
        _new_entry(returning=dialect.insert_returning, with_balance=balance_from_entry),
        {
            "member_id": member_id,
            "amount_cents": amount_cents,
            "description": description,
            "booked_by_kind": actor.kind,
            "booked_by_label": actor.label[:255],
            "booked_by_member_id": actor.member_id,
            "booked_by_api_key_id": actor.api_key_id,
            "reverses_id": reverses_id,
            "created_at": now,
            "ref": ref,
        },
    )
    if dialect.insert_returning:
        entry_id, *balance_returned = entry.one()
        if balance_from_entry:
            balance = balance_returned[0]
    else:  # MySQL
        entry_id = entry.inserted_primary_key[0]
        balance = session.connection().execute(_BALANCE, params).scalar_one()
    _expire_balance(session, member_id)
    recipient = member or holder(session, member_id=member_id)
    assert recipient is not None
    notify.after_booking(session, recipient, amount_cents, balance, description, system)
    return Booking(entry_id, member_id, amount_cents, balance, ref)


def find_booking(session: Session, booking: Booking) -> Booking | None:
    """The booking as committed, with the member's balance now; None if it never was.

    For a booking whose COMMIT lost its connection. Its transaction held the member's row
    until it ended, so this takes that row first (on SQLite the writer lock does the same):
    once it has it, the booking is either in the journal for good or never will be. While
    the row is still held (the lost transaction has not ended), it raises the driver's lock
    error at once instead of waiting.
    """
    m, j = _MEMBERS.c, _JOURNAL.c
    balance = session.execute(
        select(m.balance_cents).where(m.id == booking.member_id).with_for_update(nowait=True)
    ).scalar_one_or_none()
    entry = session.execute(select(j.id).where(j.ref == booking.ref)).scalar_one_or_none()
    if entry is None or balance is None:
        return None
    return Booking(entry, booking.member_id, booking.amount_cents, balance, booking.ref)


_ENTRY_COLUMNS = (
    "member_id",
    "amount_cents",
    "description",
    "created_at",
    "booked_by_kind",
    "booked_by_label",
    "booked_by_member_id",
    "booked_by_api_key_id",
    "reverses_id",
    "ref",
)


_BALANCE = select(_MEMBERS.c.balance_cents).where(_MEMBERS.c.id == bindparam("member_id"))


@functools.cache
def _new_entry(*, returning: bool, with_balance: bool) -> Insert:
    """The journal INSERT, every column a bind parameter; RETURNING its id where supported,
    and `with_balance` the member's balance as the UPDATE before it in the transaction left
    it (the row stays locked by that UPDATE until the commit)."""
    entry = insert(_JOURNAL).values({name: bindparam(name) for name in _ENTRY_COLUMNS})
    if not returning:
        return entry
    if with_balance:
        return entry.returning(_JOURNAL.c.id, _BALANCE.scalar_subquery())
    return entry.returning(_JOURNAL.c.id)


@functools.cache
def _balance_change(
    *, unlocked_only: bool, floored: bool, token_guard: bool, returning: bool
) -> Update:
    """The conditional UPDATE of a balance by `:amount`, built once per kind of booking.

    Its row count (or the returned balance) says whether the conditions held: the member is
    unlocked, the balance stays at or above the member's own minimum or else `:floor`, the
    token `:token_id` still belongs to the member.
    """
    m, t = _MEMBERS.c, _TOKENS.c
    conditions = [m.id == bindparam("member_id")]
    if unlocked_only:
        conditions.append(m.locked.is_(False))
    if floored:
        floor = func.coalesce(m.min_balance_cents, bindparam("floor", type_=BigInteger))
        conditions.append(m.balance_cents + bindparam("amount", type_=BigInteger) >= floor)
    if token_guard:
        conditions.append(
            exists().where(t.id == bindparam("token_id"), t.member_id == bindparam("member_id"))
        )
    change = (
        update(_MEMBERS)
        .where(*conditions)
        .values(
            balance_cents=m.balance_cents + bindparam("amount", type_=BigInteger),
            updated_at=bindparam("now"),
        )
    )
    return change.returning(m.balance_cents) if returning else change


def _expire_balance(session: Session, member_id: int) -> None:
    """The UPDATE bypassed the ORM; forget any cached balance of a loaded Member."""
    loaded = session.identity_map.get(identity_key(Member, member_id))
    if loaded is not None:
        session.expire(loaded, ["balance_cents", "updated_at"])


def debit_at_terminal(
    session: Session,
    member: Member | AccountHolder,
    description: object,
    actor: audit.Actor,
    system: settings_mod.SystemSettings | None = None,
    *,
    token_id: int | None = None,
) -> Booking:
    """Debit the configured default amount, as a terminal tap does.

    Raises MemberLocked or BelowMinimum (nothing booked) instead of overdrawing, and
    TokenNotFound when `token_id` no longer belongs to the member. `system` saves a settings
    read when the caller has them already.
    """
    description = _validate_description(description)
    system = system or settings_mod.load(session)
    booking = _post_entry(
        session,
        member.id,
        system.default_amount_cents,
        description,
        actor,
        floor_cents=system.min_balance_cents,
        unlocked_only=True,
        system=system,
        member=member,
        token_id=token_id,
    )
    if booking is not None:
        return booking
    raise _refusal(session, member.id, system, token_id)


def _refusal(
    session: Session, member_id: int, system: settings_mod.SystemSettings, token_id: int | None
) -> DomainError:
    """Why the conditional UPDATE changed nothing, read from the rows as they are now."""
    m = _MEMBERS.c
    row = session.execute(
        select(m.first_name, m.locked, m.balance_cents, m.min_balance_cents).where(
            m.id == member_id
        )
    ).one_or_none()
    if row is None:
        return MemberNotFound(f"unknown member {member_id}")
    if (
        token_id is not None
        and session.scalar(select(_TOKENS.c.member_id).where(_TOKENS.c.id == token_id)) != member_id
    ):
        return TokenNotFound(f"token {token_id} no longer belongs to member {member_id}")
    first_name, locked, balance_cents, min_balance_cents = row
    if locked:
        return MemberLocked(first_name)
    floor = min_balance_cents if min_balance_cents is not None else system.min_balance_cents
    return BelowMinimum(first_name, balance_cents, floor)


def book(
    session: Session,
    member_id: int,
    amount_cents: int,
    description: object,
    actor: audit.Actor,
) -> Booking:
    """An admin booking (deposit or correction): no floor, allowed for locked members too."""
    description = _validate_description(description)
    if not description:
        raise ValidationError(N_("Bitte eine Beschreibung angeben."), "description")
    booking = _post_entry(session, member_id, amount_cents, description, actor)
    if booking is None:
        raise MemberNotFound(f"unknown member {member_id}")
    return booking


def book_many(
    session: Session,
    member_ids: Iterable[int],
    amount_cents: int,
    description: object,
    actor: audit.Actor,
) -> list[Booking]:
    """The same admin booking for several members, all in the caller's one transaction."""
    ids = sorted(set(member_ids))  # a fixed lock order avoids deadlocks between bulk bookings
    if not ids:
        raise ValidationError(N_("Bitte mindestens ein Mitglied auswählen."), "members")
    return [book(session, member_id, amount_cents, description, actor) for member_id in ids]


def reverse(session: Session, transaction_id: int, actor: audit.Actor) -> Booking:
    """Cancel a journal entry with a linked counter-entry (storno); each entry at most once."""
    original = session.get(Transaction, transaction_id)
    if original is None:
        raise NotFound(f"unknown transaction {transaction_id}")
    if original.reverses_id is not None:
        raise AlreadyReversed(N_("Eine Stornobuchung kann nicht storniert werden."))
    if session.scalar(select(Transaction.id).where(Transaction.reverses_id == original.id)):
        raise AlreadyReversed(N_("Diese Buchung wurde bereits storniert."))
    description = f"Storno: {original.description}"[:MAX_DESCRIPTION_LENGTH]
    try:
        with session.begin_nested():
            booking = _post_entry(
                session,
                original.member_id,
                -original.amount_cents,
                description,
                actor,
                reverses_id=original.id,
            )
    except IntegrityError as exc:  # a concurrent reversal of the same entry won
        raise AlreadyReversed(N_("Diese Buchung wurde bereits storniert.")) from exc
    assert booking is not None
    audit.record(
        session,
        actor,
        "transaction.reverse",
        str(original.id),
        before={"amount_cents": original.amount_cents, "description": original.description},
    )
    return booking


def delete_journal(session: Session, actor: audit.Actor, member: Member | None = None) -> int:
    """Delete the journal of one member (or of everyone) and reset the balance(s) to zero.

    The member rows are updated first: that takes their row locks, so a booking running
    concurrently either finishes before (and its entry is deleted) or waits until after.
    """
    scope = update(Member).values(balance_cents=0).execution_options(synchronize_session=False)
    entries = delete(Transaction).execution_options(synchronize_session=False)
    if member is not None:
        before = {"balance_cents": member.balance_cents}
        scope = scope.where(Member.id == member.id)
        entries = entries.where(Transaction.member_id == member.id)
        target = member.code
    else:
        before = {"sum_of_balances_cents": total_balance(session)}
        target = "*"
    session.execute(scope)
    deleted = session.execute(entries).rowcount
    if member is not None:
        _expire_balance(session, member.id)
    else:
        for obj in session.identity_map.values():
            if isinstance(obj, Member):
                session.expire(obj, ["balance_cents"])
    audit.record(session, actor, "journal.delete", target, before={**before, "entries": deleted})
    session.flush()
    return deleted


def total_balance(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.sum(Member.balance_cents), 0))) or 0


@dataclass(frozen=True)
class Mismatch:
    member_id: int
    code: str
    balance_cents: int
    journal_cents: int


def check(session: Session) -> list[Mismatch]:
    """Recompute every balance from the journal; the members whose stored balance differs."""
    sums = (
        select(Transaction.member_id, func.sum(Transaction.amount_cents).label("total"))
        .group_by(Transaction.member_id)
        .subquery()
    )
    journal = func.coalesce(sums.c.total, 0)
    rows = session.execute(
        select(Member.id, Member.code, Member.balance_cents, journal)
        .outerjoin(sums, sums.c.member_id == Member.id)
        .where(Member.balance_cents != journal)
        .order_by(Member.code)
    )
    return [Mismatch(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


# Who booked, as the journal filter names it -> the actor kind stored with the entry: a
# terminal (or other API client), a person in the web GUI (admin or member undo), the system.
BOOKED_BY_KINDS = {"terminal": "api_key", "admin": "member", "system": "system"}


@dataclass(frozen=True)
class JournalFilter:
    """Which journal entries to show: all arguments optional, combined with AND."""

    member_id: int | None = None
    text: str = ""
    date_from: datetime | None = None  # inclusive, UTC
    date_to: datetime | None = None  # exclusive, UTC
    kind: str = ""  # "credit", "debit" or "" for both
    booked_by: str = ""  # part of who booked it (`booked_by_label`), case-insensitive
    booked_by_kind: str = ""  # a key of BOOKED_BY_KINDS, or "" for any


@dataclass(frozen=True)
class JournalPage:
    rows: list[Transaction]
    total: int
    reversed_ids: frozenset[int]


def _journal_conditions(query: JournalFilter) -> list[Any]:
    conditions: list[Any] = []
    if query.member_id is not None:
        conditions.append(Transaction.member_id == query.member_id)
    if query.text.strip():
        pattern = f"%{query.text.strip().lower()}%"
        by_text = func.lower(Transaction.description).like(pattern)
        named = matching(query.text)  # a name ("oz" finds Öztürk), a code, a token's hex
        if named is not None:
            by_text = or_(by_text, Transaction.member_id.in_(select(Member.id).where(named)))
        conditions.append(by_text)
    if query.date_from is not None:
        conditions.append(Transaction.created_at >= query.date_from)
    if query.date_to is not None:
        conditions.append(Transaction.created_at < query.date_to)
    if query.kind == "credit":
        conditions.append(Transaction.amount_cents > 0)
    elif query.kind == "debit":
        conditions.append(Transaction.amount_cents < 0)
    if query.booked_by.strip():
        pattern = f"%{query.booked_by.strip().lower()}%"
        conditions.append(func.lower(Transaction.booked_by_label).like(pattern))
    if query.booked_by_kind in BOOKED_BY_KINDS:
        conditions.append(Transaction.booked_by_kind == BOOKED_BY_KINDS[query.booked_by_kind])
    return conditions


def journal(
    session: Session, query: JournalFilter, *, limit: int | None = 50, offset: int = 0
) -> JournalPage:
    """Journal entries, newest first, with their member loaded; `limit=None` for all."""
    conditions = _journal_conditions(query)
    total = session.scalar(select(func.count()).select_from(Transaction).where(*conditions)) or 0
    rows_query = (
        select(Transaction)
        .where(*conditions)
        .options(joinedload(Transaction.member))
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
    )
    if limit is not None:
        rows_query = rows_query.limit(limit).offset(offset)
    rows = list(session.scalars(rows_query))
    return JournalPage(rows, total, reversed_among(session, [row.id for row in rows]))


def reversed_among(session: Session, transaction_ids: list[int]) -> frozenset[int]:
    """Those of the given entries that a later entry reverses."""
    if not transaction_ids:
        return frozenset()
    found = session.scalars(
        select(Transaction.reverses_id).where(Transaction.reverses_id.in_(transaction_ids))
    )
    return frozenset(i for i in found if i is not None)


def describe(mismatches: list[Mismatch], limit: int = 10) -> str:
    """The codes of the first mismatching members, for a message."""
    codes = ", ".join(m.code for m in mismatches[:limit])
    return codes + (", ..." if len(mismatches) > limit else "")
