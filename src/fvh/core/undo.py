"""A member undoes their own last terminal booking, shortly after it (a mistaken tap).

The rules live here, once: only a booking a terminal made (booked by an API key), only the
member's own, only their newest journal entry, only within the configured window, and only
once. The undo itself is an ordinary reversing entry (`ledger.reverse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fvh.core import audit, ledger
from fvh.core.errors import AlreadyReversed, UndoRefused
from fvh.db.models import Member, Transaction

TERMINAL_KIND = "api_key"

# Reasons an undo is refused (UndoRefused.reason).
NOTHING = "nothing"  # no booking at all
NOT_OWN = "not_own"  # the named entry does not exist or belongs to someone else
NOT_LAST = "not_last"  # the named entry is not the member's newest
NOT_TERMINAL = "not_terminal"  # the newest entry was not booked by a terminal
EXPIRED = "expired"  # the window has passed (or undo is switched off)
ALREADY = "already"  # it has been undone (reversed) already


@dataclass(frozen=True)
class Undoable:
    """The booking a member may undo now, and until when (UTC)."""

    transaction: Transaction
    deadline: datetime


def _newest_entry(session: Session, member_id: int) -> Transaction | None:
    return session.scalar(
        select(Transaction)
        .where(Transaction.member_id == member_id)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
        .limit(1)
    )


def check(
    session: Session,
    member: Member,
    now: datetime,
    window: timedelta,
    transaction_id: int | None = None,
) -> Undoable:
    """The member's undoable booking, or UndoRefused naming the rule that forbids it.

    `transaction_id` is the entry the member saw and chose; it must still be the newest one,
    so an undo never hits a booking that happened after the page was shown.
    """
    if transaction_id is not None:
        chosen = session.get(Transaction, transaction_id)
        if chosen is None or chosen.member_id != member.id:
            raise UndoRefused(NOT_OWN)
    newest = _newest_entry(session, member.id)
    if newest is None:
        raise UndoRefused(NOTHING)
    if transaction_id is not None and newest.id != transaction_id:
        raise UndoRefused(NOT_LAST)
    if newest.booked_by_kind != TERMINAL_KIND or newest.reverses_id is not None:
        raise UndoRefused(NOT_TERMINAL)
    if ledger.reversed_among(session, [newest.id]):
        raise UndoRefused(ALREADY)
    deadline = newest.created_at + window
    if window <= timedelta(0) or now > deadline:
        raise UndoRefused(EXPIRED)
    return Undoable(newest, deadline)


def undoable(session: Session, member: Member, now: datetime, window: timedelta) -> Undoable | None:
    """What the member's page offers to undo, if anything."""
    try:
        return check(session, member, now, window)
    except UndoRefused:
        return None


def undo_last_terminal_booking(
    session: Session,
    member: Member,
    now: datetime,
    window: timedelta,
    actor: audit.Actor,
    transaction_id: int | None = None,
) -> ledger.Booking:
    """Reverse the member's last terminal booking if every rule allows it (else UndoRefused)."""
    target = check(session, member, now, window, transaction_id)
    try:
        return ledger.reverse(session, target.transaction.id, actor)
    except AlreadyReversed as exc:  # a concurrent undo (or an admin's storno) came first
        raise UndoRefused(ALREADY) from exc
