"""A terminal's tap: one call from what a terminal presented to what happened.

Both booking endpoints of the terminal API (by NFC token, by member code) end in `tap`. It
reads the API key, the token's (or code's) member and the system settings in one query, as
a reader (on SQLite beside the writer), then books the default amount through the ledger in
one writing transaction, which it commits: run again from the start after a conflict (a
deadlock, a Galera certification failure), and looked up by the booking's reference when
the connection broke during the COMMIT. What happened comes back as an outcome value, which
the door turns into an answer; no outcome says "not booked" for a booking that happened.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fvh import db
from fvh.core import idempotency, keys, ledger, members, refusals, tokens
from fvh.core.errors import BelowMinimum, MemberLocked, MemberNotFound, TokenNotFound
from fvh.core.system_settings import SystemSettings

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class NotBooked:
    """The booking was rolled back: nothing was booked, and the terminal may try again.

    `reason` is a `fvh.db.Failure` value: "conflict" (others kept changing the account for
    longer than the retries allow), "lock timeout" (a lock was held longer than the lock
    timeout), "timeout" (a statement ran too long) or "outage" (the database went away
    before the commit, or a commit whose connection broke turned out not to have happened).
    """

    reason: str


@dataclass(frozen=True)
class Unconfirmed:
    """The connection broke during the commit and the database could not be asked
    afterwards: the booking may have happened. Nobody may be told it failed."""


Outcome = (
    Booked
    | Blocked
    | Locked
    | Unknown
    | KeyRefused
    | ScopeRefused
    | Replayed
    | IdempotencyRefused
    | NotBooked
    | Unconfirmed
)

# What the door answers to an outcome, (body, status): stored with the Idempotency-Key.
Answer = Callable[[Outcome], tuple[Any, int]]


@dataclass(frozen=True)
class TapResult:
    """The outcome, and how many times the booking transaction ran (1 without conflicts)."""

    outcome: Outcome
    attempts: int = 0


# --- the service --------------------------------------------------------------------------


def tap(
    session: Session,
    api_key: str | None,
    presented: Presented,
    description: str,
    claim: idempotency.Claim | None = None,
    *,
    answer: Answer | None = None,
) -> TapResult:
    """Book the default amount for what the terminal presented, once, and commit.

    `api_key` is the key as presented, authenticated here in the same query that finds the
    member. `claim` makes a retry return the first answer instead of booking again: the
    record is stored with `answer(outcome)` in the booking's transaction. The key's use is
    noted in a transaction of its own, which never fails the tap.
    """
    if claim is not None and answer is None:
        raise ValueError("an Idempotency-Key claim needs the answer to store with it")
    if not api_key:
        return TapResult(KeyRefused())  # refused without asking the database
    started = time.monotonic()  # the retries' window counts the waits before the booking too
    db.begin_read(session)
    key, found = keys.authenticate_with(session, api_key, _lookup(presented))
    if key is None:
        return TapResult(KeyRefused())
    if not keys.scope_allows(key.scope, keys.SCOPE_TERMINAL):
        return TapResult(ScopeRefused())
    keys.record_use(session, key)

    def booking() -> tuple[Outcome, ledger.Booking | None]:
        db.begin_write(session)
        return _claimed_booking(session, key, presented, found, description, claim, answer)

    try:
        done = db.run_transaction(session, booking, started=started)
    except db.NotCommitted as exc:
        log.warning("tap not booked (%s) after %d attempts", exc.failure.value, exc.attempts)
        return TapResult(NotBooked(exc.failure.value), exc.attempts)
    except db.CommitUncertain as exc:
        outcome, booking_done = exc.result
        return TapResult(_after_lost_commit(session, outcome, booking_done), exc.attempts)
    outcome, _booking = done.result
    return TapResult(outcome, done.attempts)


def _claimed_booking(
    session: Session,
    key: keys.KeyIdentity,
    presented: Presented,
    found: Any,
    description: str,
    claim: idempotency.Claim | None,
    answer: Answer | None,
) -> tuple[Outcome, ledger.Booking | None]:
    """One run of the booking transaction: the Idempotency-Key claimed, the member debited,
    the answer stored with the key. Returns the outcome and the booking, if one was made."""
    record = None
    if claim is not None:
        try:
            earlier = idempotency.claim(session, key.id, claim)
        except (idempotency.KeyReusedWithOtherRequest, idempotency.RequestInProgress) as exc:
            in_progress = isinstance(exc, idempotency.RequestInProgress)
            return IdempotencyRefused(exc.message, in_progress), None
        if isinstance(earlier, idempotency.StoredResponse):
            return Replayed(earlier.status_code, earlier.body), None
        record = earlier
    outcome, booking = _book(session, presented, found, description, key)
    if record is not None and answer is not None:
        body, status = answer(outcome)
        idempotency.complete(record, status, body)
    return outcome, booking


# After a lost commit: how often, how long apart and for how long the database is asked what
# happened (a terminal waits 10 s for its answer).
_LOOKUPS = 4
_LOOKUP_PAUSE = 0.5
_LOOKUP_WITHIN = 1.5


def _after_lost_commit(
    session: Session, outcome: Outcome, booking: ledger.Booking | None
) -> Outcome:
    """What really happened to a tap whose COMMIT lost its connection.

    Without a booking (refused, unknown, replayed) nothing was at stake: the outcome stands.
    A booking is looked up by its reference on a new connection: booked (with the balance
    now) or not booked; if the database can't be asked, the answer says it is unknown.
    """
    if booking is None:
        return outcome
    started = time.monotonic()
    for lookup in range(_LOOKUPS):
        if lookup:
            if time.monotonic() - started > _LOOKUP_WITHIN:
                break
            time.sleep(_LOOKUP_PAUSE)
        try:
            found = ledger.find_booking(session, booking)
            session.commit()
        except DBAPIError as exc:
            session.rollback()
            log.warning("after a lost commit, the booking's lookup failed: %s", exc.orig)
            continue
        if found is None:
            log.warning("a lost commit did not happen: booking %s not booked", booking.ref)
            return NotBooked(db.Failure.OUTAGE.value)
        log.warning("a lost commit happened: booking %s booked", booking.ref)
        assert isinstance(outcome, Booked)
        return Booked(outcome.first_name, found.amount_cents, found.balance_cents, outcome.system)
    log.error("after a lost commit, booking %s could not be looked up", booking.ref)
    return Unconfirmed()


def _lookup(presented: Presented) -> db.Lookup[Any]:
    if isinstance(presented, ByToken):
        return tokens.owner_lookup(presented.data)
    return members.holder_lookup(presented.code)


def _book(
    session: Session, presented: Presented, found: Any, description: str, key: keys.KeyIdentity
) -> tuple[Outcome, ledger.Booking | None]:
    """The debit of the member found (token or code); a refused tap is recorded, and an
    unknown token also kept for the admins to assign."""
    refused = functools.partial(
        refusals.record,
        session,
        terminal=key.client_name,
        api_key_id=key.id,
        description=description,
    )
    if found is not None:
        read, system = found  # a TokenOwner (by token) or an AccountHolder (by code)
        token = read if isinstance(presented, ByToken) else None
        member = token.member if token is not None else read
        try:
            booking = ledger.debit_at_terminal(
                session,
                member,
                description,
                key.actor(),
                system,
                token_id=token.token_id if token is not None else None,
            )
        except MemberLocked as exc:
            refused(refusals.LOCKED, member_id=member.id, amount_cents=system.default_amount_cents)
            return Locked(exc.first_name), None
        except BelowMinimum as exc:
            refused(
                refusals.BLOCKED,
                member_id=member.id,
                amount_cents=system.default_amount_cents,
                balance_cents=exc.balance_cents,
            )
            return Blocked(exc.first_name, exc.balance_cents, system), None
        except (TokenNotFound, MemberNotFound):
            pass  # removed or moved since it was read: unknown now
        else:
            if token is not None:
                tokens.note_use(session, token)
            booked = Booked(member.first_name, booking.amount_cents, booking.balance_cents, system)
            return booked, booking
    if isinstance(presented, ByToken):
        tokens.record_unknown_scan(session, presented.data, key.client_name)
        refused(refusals.UNKNOWN, presented=tokens.to_hex(presented.data))
    else:
        refused(refusals.UNKNOWN, presented=presented.code)
    return Unknown(), None
