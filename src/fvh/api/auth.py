"""API-key authentication: `X-API-Key`, looked up by hash, checked against the view's scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, g, request

from fvh.core import keys
from fvh.core.audit import Actor
from fvh.http import access
from fvh.http.context import begin_by_method, db_session

HEADER = "X-API-Key"
KEY_REFUSED = "API-Key fehlt oder ist ungültig."
SCOPE_REFUSED = "Dieser API-Key darf diese Aktion nicht ausführen."


def check_key(scope: str = keys.SCOPE_TERMINAL) -> keys.KeyIdentity:
    """The request's key, read as a reader: 401 without an active one, 403 when its scope
    is too small."""
    key = keys.identify(db_session(), request.headers.get(HEADER))
    if key is None:
        abort(401, KEY_REFUSED)
    if not keys.scope_allows(key.scope, scope):
        abort(403, SCOPE_REFUSED)
    return key


def require_key(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The view runs only for an active key of this scope (`check_key`). A view that only
    reads (GET) goes on in a read transaction; any other writes from its first statement."""
    rule = access.api_rule(scope)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.api_key = check_key(scope)
            begin_by_method()
            return view(*args, **kwargs)

        return access.mark(rule)(wrapper)

    return decorate


def current_key() -> keys.KeyIdentity:
    return g.api_key


def current_actor() -> Actor:
    return current_key().actor()
