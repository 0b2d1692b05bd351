"""API-key authentication: `X-API-Key`, looked up by hash, checked against the view's scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, g

from fvh import access, keys
from fvh.app import get_database
from fvh.audit import Actor
from fvh.models import ApiKey

HEADER = "X-API-Key"


def authenticate(presented: str | None) -> ApiKey | None:
    """Look the key up (and note its use) in a short transaction of its own.

    Kept apart from the request's transaction on purpose: on MariaDB a booking's journal row
    takes a shared lock on the key row (foreign key), so updating `last_used` inside bookings
    that share a key would let two of them deadlock.
    """
    with get_database().session() as session:
        return keys.authenticate(session, presented)


def require_key(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Reject requests without an active key (401) or with too small a scope (403)."""
    rule = access.API_ADMIN if scope == keys.SCOPE_ADMIN else access.API_TERMINAL

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flask import request

            key = authenticate(request.headers.get(HEADER))
            if key is None:
                abort(401, "API-Key fehlt oder ist ungültig.")
            if not keys.scope_allows(key.scope, scope):
                abort(403, "Dieser API-Key darf diese Aktion nicht ausführen.")
            g.api_key = key
            return view(*args, **kwargs)

        return access.mark(rule)(wrapper)

    return decorate


def current_key() -> ApiKey:
    return g.api_key


def current_actor() -> Actor:
    key = current_key()
    return Actor.for_api_key(key.id, f"API: {key.client.name}")
