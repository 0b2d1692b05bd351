"""Booking answers under an optional `Idempotency-Key` (scoped to the API key).

The key is claimed at the start of the booking's transaction and the answer stored in it, so
booking and record commit together. A retry gets the stored answer and books nothing; a
concurrent duplicate blocks on the unique index, fails, and then answers as the first did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fvh.api.auth import current_key
from fvh.api.errors import error
from fvh.core import idempotency
from fvh.core.errors import ValidationError
from fvh.http import observability

Answer = tuple[dict[str, Any], int]


def _counted(compute: Callable[[Session], Answer], session: Session) -> Answer:
    body, status = compute(session)
    observability.booking_outcome(request.endpoint or "", status, body)
    return body, status


def _stored_answer(
    session: Session, api_key_id: int, key: str, fingerprint: str
) -> idempotency.StoredResponse | ResponseReturnValue | None:
    """The stored answer, an error answer for a conflicting key, or None (not seen yet)."""
    try:
        return idempotency.lookup(session, api_key_id, key, fingerprint)
    except idempotency.KeyReusedWithOtherRequest as exc:
        return error(exc.message, 422)
    except idempotency.RequestInProgress as exc:
        return error(exc.message, 409)


def answer_booking(session: Session, compute: Callable[[Session], Answer]) -> ResponseReturnValue:
    """Run `compute` (the booking) and commit; replay the first answer for a known key."""
    header = request.headers.get("Idempotency-Key")
    if header is None:
        body, status = _counted(compute, session)
        session.commit()
        return jsonify(body), status
    try:
        key = idempotency.validate_key(header)
    except ValidationError as exc:
        abort(400, exc.message)
    fingerprint = idempotency.fingerprint(request.method, request.path, request.get_data())
    api_key_id = current_key().id

    found = _stored_answer(session, api_key_id, key, fingerprint)
    if found is None:
        try:
            record = idempotency.reserve(session, api_key_id, key, fingerprint)
        except IntegrityError:
            # A concurrent request with the same key committed first: answer as it did.
            session.rollback()
            found = _stored_answer(session, api_key_id, key, fingerprint)
            if found is None:
                return error("Eine Anfrage mit diesem Idempotency-Key läuft noch.", 409)
    if isinstance(found, idempotency.StoredResponse):
        return jsonify(found.body), found.status_code
    if found is not None:
        return found
    body, status = _counted(compute, session)
    idempotency.complete(record, status, body)
    session.commit()
    return jsonify(body), status
