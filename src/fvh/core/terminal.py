"""A terminal's tap: one call from what a terminal presented to what happened.

Both booking endpoints of the terminal API (by NFC token, by member code) end in `tap`. It
reads the API key, the token's (or code's) member and the system settings in one query, as
a reader (on SQLite beside the writer), then books the default amount through the ledger in
a writing transaction. What happened comes back as an outcome value; the door turns it into
an answer and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fvh import db
from fvh.core import idempotency, keys, ledger, members, tokens
from fvh.core.audit import Actor
from fvh.core.errors import BelowMinimum, MemberLocked, MemberNotFound, TokenNotFound
from fvh.core.system_settings import SystemSettings
from fvh.db.models import IdempotencyRecord

# --- what a terminal presents -------------------------------------------------------------


@dataclass(frozen=True)
class ByToken:
    """An NFC token's raw bytes (1..32), as read by the terminal."""

    data: bytes


@dataclass(frozen=True)
class ByCode:
    """A member's 10-digit code, as a QR terminal reads it."""

    code: str


Presented = ByToken | ByCode


# --- what happened ------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    first_name: str
    amount_cents: int
    balance_cents: int
    system: SystemSettings


@dataclass(frozen=True)
class Blocked:
    """Refused: the debit would take the balance below the member's minimum."""

    first_name: str
    balance_cents: int
    system: SystemSettings


@dataclass(frozen=True)
class Locked:
    first_name: str


@dataclass(frozen=True)
class Unknown:
    """No member has this token or code (an unknown token is recorded for the admins)."""


@dataclass(frozen=True)
class KeyRefused:
    """No active API key was presented: nothing was booked."""


@dataclass(frozen=True)
class ScopeRefused:
    """The key's scope does not allow terminal bookings: nothing was booked."""


@dataclass(frozen=True)
class Replayed:
    """The request repeats an earlier one with the same `Idempotency-Key`: its first answer."""

    status_code: int
    body: Any


@dataclass(frozen=True)
class IdempotencyRefused:
    """The `Idempotency-Key` was used for another request, or its request still runs."""

    message: str
    in_progress: bool


Outcome = (
    Booked | Blocked | Locked | Unknown | KeyRefused | ScopeRefused | Replayed | IdempotencyRefused
)


@dataclass(frozen=True)
class TapResult:
    """The outcome, and the claimed idempotency record (if the request sent a key), which
    the door completes with its answer before it commits."""

    outcome: Outcome
    record: IdempotencyRecord | None = None


# --- the service --------------------------------------------------------------------------


def tap(
    session: Session,
    api_key: str | None,
    presented: Presented,
    description: str,
    claim: idempotency.Claim | None = None,
) -> TapResult:
    """Book the default amount for what the terminal presented, once.

    `api_key` is the key as presented, authenticated here in the same query that finds the
    member. `claim` makes a retry return the first answer instead of booking again. The
    key's use is committed on its own (`keys.record_use`); the booking is left to the caller
    to commit, with the idempotency record.
    """
    if not api_key:
        return TapResult(KeyRefused())  # refused without asking the database
    db.begin_read(session)
    key, found = keys.authenticate_with(session, api_key, _lookup(presented))
    if key is None:
        return TapResult(KeyRefused())
    if not keys.scope_allows(key.scope, keys.SCOPE_TERMINAL):
        return TapResult(ScopeRefused())
    keys.record_use(session, key)
    db.begin_write(session)
    record = None
    if claim is not None:
        try:
            earlier = idempotency.claim(session, key.id, claim)
        except (idempotency.KeyReusedWithOtherRequest, idempotency.RequestInProgress) as exc:
            in_progress = isinstance(exc, idempotency.RequestInProgress)
            return TapResult(IdempotencyRefused(exc.message, in_progress))
        if isinstance(earlier, idempotency.StoredResponse):
            return TapResult(Replayed(earlier.status_code, earlier.body))
        record = earlier
    return TapResult(_book(session, presented, found, description, key.actor()), record)


def _lookup(presented: Presented) -> db.Lookup[Any]:
    if isinstance(presented, ByToken):
        return tokens.owner_lookup(presented.data)
    return members.holder_lookup(presented.code)


def _book(
    session: Session, presented: Presented, found: Any, description: str, actor: Actor
) -> Outcome:
    """The debit of the member found (token or code); an unknown token is recorded."""
    if found is not None:
        read, system = found  # a TokenOwner (by token) or an AccountHolder (by code)
        token = read if isinstance(presented, ByToken) else None
        member = token.member if token is not None else read
        try:
            booking = ledger.debit_at_terminal(
                session,
                member,
                description,
                actor,
                system,
                token_id=token.token_id if token is not None else None,
            )
        except MemberLocked as exc:
            return Locked(exc.first_name)
        except BelowMinimum as exc:
            return Blocked(exc.first_name, exc.balance_cents, system)
        except (TokenNotFound, MemberNotFound):
            pass  # removed or moved since it was read: unknown now
        else:
            if token is not None:
                tokens.note_use(session, token)
            return Booked(member.first_name, booking.amount_cents, booking.balance_cents, system)
    if isinstance(presented, ByToken):
        tokens.record_unknown_scan(session, presented.data, description)
    return Unknown()
