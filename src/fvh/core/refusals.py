"""Taps a terminal was refused, kept so the treasurer sees who is being turned away.

A tap below the minimum balance, on a locked account, or with a token or code nobody owns is
recorded in the tap's own transaction (`terminal.tap`), with the terminal, the time and the
reason. The dashboard shows today's, a member's page their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from fvh.db.models import Member, RefusedTap, utcnow

BLOCKED = "blocked"  # the debit would take the balance below the member's minimum
LOCKED = "locked"
UNKNOWN = "unknown"  # no member has the token or code
REASONS = (BLOCKED, LOCKED, UNKNOWN)

KEPT = timedelta(days=365)


@dataclass(frozen=True)
class Refusal:
    created_at: datetime
    reason: str
    member_id: int | None
    member_name: str  # "" for an unknown token or code
    terminal: str
    description: str
    amount_cents: int | None
    balance_cents: int | None
    presented: str


def record(
    session: Session,
    reason: str,
    *,
    terminal: str,
    amount_cents: int | None = None,
    description: str = "",
    member_id: int | None = None,
    api_key_id: int | None = None,
    balance_cents: int | None = None,
    presented: str = "",
) -> None:
    """Note a refused tap, in the caller's transaction (one INSERT, no ORM flush)."""
    if reason not in REASONS:
        raise ValueError(f"unknown refusal reason {reason!r}")
    session.execute(
        insert(RefusedTap).values(
            created_at=utcnow(),
            reason=reason,
            member_id=member_id,
            terminal=terminal[:255],
            api_key_id=api_key_id,
            description=description[:255],
            amount_cents=amount_cents,
            balance_cents=balance_cents,
            presented=presented[:64],
        )
    )


def today(session: Session, zone: tzinfo, *, limit: int = 10) -> tuple[int, list[Refusal]]:
    """How many taps were refused since local midnight in `zone`, and the latest of them."""
    local_now = utcnow().replace(tzinfo=UTC).astimezone(zone)
    midnight = datetime.combine(local_now.date(), time.min, tzinfo=zone)
    start = midnight.astimezone(UTC).replace(tzinfo=None)  # stored times are naive UTC
    count = session.scalar(select(func.count()).where(RefusedTap.created_at >= start)) or 0
    return count, _list(session, RefusedTap.created_at >= start, limit)


def for_member(session: Session, member_id: int, *, limit: int = 20) -> list[Refusal]:
    """A member's latest refused taps, newest first."""
    return _list(session, RefusedTap.member_id == member_id, limit)


def _list(session: Session, condition: object, limit: int) -> list[Refusal]:
    name = func.coalesce(Member.first_name + " " + Member.last_name, "")
    rows = session.execute(
        select(RefusedTap, name)
        .outerjoin(Member, Member.id == RefusedTap.member_id)
        .where(condition)
        .order_by(RefusedTap.created_at.desc(), RefusedTap.id.desc())
        .limit(limit)
    )
    return [
        Refusal(
            tap.created_at,
            tap.reason,
            tap.member_id,
            member_name,
            tap.terminal,
            tap.description,
            tap.amount_cents,
            tap.balance_cents,
            tap.presented,
        )
        for tap, member_name in rows
    ]


def purge(session: Session, kept: timedelta = KEPT) -> int:
    """Forget refusals older than `kept`."""
    cutoff = utcnow() - kept
    return session.execute(
        delete(RefusedTap)
        .where(RefusedTap.created_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
