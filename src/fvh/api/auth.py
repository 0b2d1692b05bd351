"""API-key authentication: `X-API-Key`, looked up by hash, checked against the view's scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, g, request
from sqlalchemy.orm import Session

from fvh import db
from fvh.core import keys
from fvh.core.audit import Actor
from fvh.http import access
from fvh.http.context import db_session

HEADER = "X-API-Key"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def authenticate(session: Session, presented: str | None) -> keys.KeyIdentity | None:
    """The active key presented, read as a reader (on SQLite beside the writer); its use
    noted at most once a minute, in a transaction of its own."""
    if not presented:
        return None  # refused without asking the database
    db.begin_read(session)
    key = keys.authenticate(session, presented)
    if key is not None:
        keys.record_use(session, key)
    return key


def check_key(scope: str = keys.SCOPE_TERMINAL) -> keys.KeyIdentity:
    """The request's key: 401 without an active one, 403 when its scope is too small.

    A view that only reads (GET) goes on in a read transaction; any other begins writing.
    """
    session = db_session()
    key = authenticate(session, request.headers.get(HEADER))
    if key is None:
        abort(401, "API-Key fehlt oder ist ungültig.")
    if not keys.scope_allows(key.scope, scope):
        abort(403, "Dieser API-Key darf diese Aktion nicht ausführen.")
    if request.method in SAFE_METHODS:
        db.begin_read(session)
    else:
        db.begin_write(session)
    return key


def require_key(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The view runs only for an active key of this scope (see `check_key`)."""
    rule = access.api_rule(scope)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.api_key = check_key(scope)
            return view(*args, **kwargs)

        return access.mark(rule)(wrapper)

    return decorate


def current_key() -> keys.KeyIdentity:
    return g.api_key


def current_actor() -> Actor:
    key = current_key()
    return Actor.for_api_key(key.id, f"API: {key.client_name}")
