"""API-key authentication: `X-API-Key`, looked up by hash, checked against the view's scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g, request

from fvh.core import keys
from fvh.core.audit import Actor
from fvh.db import engine as db
from fvh.db.models import utcnow
from fvh.http import access
from fvh.http.context import db_session

HEADER = "X-API-Key"
T = TypeVar("T")


def authenticate(
    presented: str | None, *, keep_reading: bool = False, lookup: db.Lookup[Any] | None = None
) -> tuple[keys.KeyIdentity | None, Any]:
    """Look the key up in the request's session, as a reader, and note its use; with a
    `lookup`, read that in the same query (its result, or None, comes second).

    The lookup only reads, so on SQLite it does not queue for the write lock. The read phase
    ends here, and the view's first statement starts a writing transaction, unless the view
    goes on reading in it (`keep_reading`; such a view calls `db.end_read` before it writes).

    `last_used_at` is written at most once a minute, committed before the view runs: inside
    a booking, on MariaDB the journal row's foreign key locks the key row, and two bookings
    that share a key could deadlock on it.
    """
    if not presented:
        return None, None  # refused without asking the database
    session = db_session()
    db.begin_read(session)
    if lookup is None:
        key, found = keys.authenticate(session, presented), None
    else:
        key, found = keys.authenticate_with(session, presented, lookup)
    if key is not None and key.use_due(utcnow()):
        session.commit()
        keys.note_use(session, key)
        session.commit()
        if keep_reading:
            db.begin_read(session)
    if not keep_reading:
        db.end_read(session)
    return key, found


# What a view reads along with its key: a function of the request (like its path arguments)
# giving the lookup, or None when the request can't name one (the view then reports why).
ReadAlong = Callable[..., "db.Lookup[Any] | None"]


def require_key(
    scope: str, *, keep_reading: bool = False, read_along: ReadAlong | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Reject requests without an active key (401) or with too small a scope (403).

    `keep_reading` views go on reading in the key lookup's read transaction: views that only
    read, and bookings, which read first and call `db.end_read` before they write.
    `read_along` names what the view reads first, read in the key's query (a tap: the
    token, its member and the settings); the view gets it from `read_along_result`.
    """
    rule = access.API_ADMIN if scope == keys.SCOPE_ADMIN else access.API_TERMINAL

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            lookup = read_along(*args, **kwargs) if read_along is not None else None
            key, found = authenticate(
                request.headers.get(HEADER), keep_reading=keep_reading, lookup=lookup
            )
            if key is None:
                abort(401, "API-Key fehlt oder ist ungültig.")
            if not keys.scope_allows(key.scope, scope):
                abort(403, "Dieser API-Key darf diese Aktion nicht ausführen.")
            g.api_key = key
            g.read_along = (lookup, found) if lookup is not None else None
            return view(*args, **kwargs)

        return access.mark(rule)(wrapper)

    return decorate


def read_along_result(lookup: db.Lookup[T]) -> T | None:
    """The result of `lookup`: as read with the key if that was this lookup, else read now."""
    done = g.get("read_along")
    if done is not None and done[0] == lookup:
        return done[1]
    return db.fetch(db_session(), lookup)


def current_key() -> keys.KeyIdentity:
    return g.api_key


def current_actor() -> Actor:
    key = current_key()
    return Actor.for_api_key(key.id, f"API: {key.client_name}")
