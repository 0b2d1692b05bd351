"""API-key authentication: `X-API-Key`, looked up by hash, checked against the view's scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, g, request

from fvh import access, db, keys
from fvh.app import db_session
from fvh.audit import Actor
from fvh.models import utcnow

HEADER = "X-API-Key"


def authenticate(presented: str | None, *, keep_reading: bool = False) -> keys.KeyIdentity | None:
    """Look the key up in the request's session, as a reader, and note its use.

    The lookup only reads, so on SQLite it does not queue for the write lock. The read phase
    ends here, and the view's first statement starts a writing transaction, unless the view
    goes on reading in it (`keep_reading`; such a view calls `db.end_read` before it writes).

    `last_used_at` is written at most once a minute, committed before the view runs: inside
    a booking, on MariaDB the journal row's foreign key locks the key row, and two bookings
    that share a key could deadlock on it.
    """
    if not presented:
        return None  # refused without asking the database
    session = db_session()
    db.begin_read(session)
    key = keys.authenticate(session, presented)
    if key is not None and key.use_due(utcnow()):
        session.commit()
        keys.note_use(session, key)
        session.commit()
        if keep_reading:
            db.begin_read(session)
    if not keep_reading:
        db.end_read(session)
    return key


def require_key(
    scope: str, *, keep_reading: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Reject requests without an active key (401) or with too small a scope (403).

    `keep_reading` views go on reading in the key lookup's read transaction: views that only
    read, and bookings, which read first and call `db.end_read` before they write.
    """
    rule = access.API_ADMIN if scope == keys.SCOPE_ADMIN else access.API_TERMINAL

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = authenticate(request.headers.get(HEADER), keep_reading=keep_reading)
            if key is None:
                abort(401, "API-Key fehlt oder ist ungültig.")
            if not keys.scope_allows(key.scope, scope):
                abort(403, "Dieser API-Key darf diese Aktion nicht ausführen.")
            g.api_key = key
            return view(*args, **kwargs)

        return access.mark(rule)(wrapper)

    return decorate


def current_key() -> keys.KeyIdentity:
    return g.api_key


def current_actor() -> Actor:
    key = current_key()
    return Actor.for_api_key(key.id, f"API: {key.client_name}")
