"""Stored first answers for requests that carry an `Idempotency-Key`.

The record is inserted at the start of the booking's transaction, so a concurrent duplicate
blocks on the unique index and then fails; the booking and its record commit together.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fvh.core.errors import N_, Conflict, ValidationError
from fvh.db.models import IdempotencyRecord, utcnow

MAX_KEY_LENGTH = 255


class KeyReusedWithOtherRequest(Conflict):
    """The same key came with a different request: refused, nothing booked."""


class RequestInProgress(Conflict):
    """A request with this key is being processed right now."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


def validate_key(key: str) -> str:
    """1 to 255 printable characters; only the spaces and tabs that HTTP puts around a header
    value are dropped (the API's schema states this as a pattern)."""
    key = key.strip(" \t")
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            N_("Idempotency-Key: 1 bis %(max)d druckbare Zeichen."),
            "Idempotency-Key",
            max=MAX_KEY_LENGTH,
        )
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


def lookup(session: Session, api_key_id: int, key: str, request_hash: str) -> StoredResponse | None:
    """The stored answer for this key, or None; a different request with it is refused."""
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
    )
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise KeyReusedWithOtherRequest(
            N_("Idempotency-Key wurde mit einer anderen Anfrage benutzt.")
        )
    if record.status_code == 0:
        raise RequestInProgress(N_("Eine Anfrage mit diesem Idempotency-Key läuft noch."))
    return StoredResponse(record.status_code, json.loads(record.response_body))


def reserve(session: Session, api_key_id: int, key: str, request_hash: str) -> IdempotencyRecord:
    """Claim the key inside the current transaction (flushes: a concurrent claim blocks here)."""
    record = IdempotencyRecord(
        api_key_id=api_key_id,
        key=key,
        request_hash=request_hash,
        status_code=0,
        response_body="null",
    )
    session.add(record)
    session.flush()
    return record


@dataclass(frozen=True)
class Claim:
    """A request's `Idempotency-Key` (validated) and the fingerprint of the request."""

    key: str
    fingerprint: str


def claim(session: Session, api_key_id: int, request: Claim) -> StoredResponse | IdempotencyRecord:
    """The first answer to this key, or the key claimed for this request (a new record).

    Raises KeyReusedWithOtherRequest or RequestInProgress. A concurrent request with the
    same key that commits first makes the claim fail on the unique index: the session is
    rolled back and that request's answer returned.
    """
    found = lookup(session, api_key_id, request.key, request.fingerprint)
    if found is not None:
        return found
    try:
        return reserve(session, api_key_id, request.key, request.fingerprint)
    except IntegrityError:
        session.rollback()
        found = lookup(session, api_key_id, request.key, request.fingerprint)
        if found is None:
            raise RequestInProgress(
                N_("Eine Anfrage mit diesem Idempotency-Key läuft noch.")
            ) from None
        return found


def complete(record: IdempotencyRecord, status_code: int, body: Any) -> None:
    record.status_code = status_code
    record.response_body = json.dumps(body, ensure_ascii=False)


MIN_TTL = timedelta(hours=24)


def purge_expired(session: Session, ttl: timedelta) -> int:
    """Forget records older than the retention time (never less than 24 hours)."""
    cutoff = utcnow() - max(ttl, MIN_TTL)
    return session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    ).rowcount
