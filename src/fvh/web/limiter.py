"""Flask-Limiter for the GUI, counting in the database that all workers share.

It is the coarse flood guard in front of the forms that check passwords or send mail (views
marked with `form_limited`); the finer rule — failed logins per account and per address —
lives in `fvh.core.logins`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from fvh.db.ratelimit_store import SCHEME
from fvh.http import context

F = TypeVar("F", bound=Callable[..., Any])

# POSTs per client address and minute to one password or mail form, successful ones too.
FORM_LIMIT = "30 per minute"


def form_limited(view: F) -> F:
    """Mark a view whose POSTs `init_app` puts behind FORM_LIMIT."""
    view.fvh_form_limited = True  # type: ignore[attr-defined]
    return view


def _too_many(_exc: RateLimitExceeded) -> ResponseReturnValue:
    message = _("Zu viele Anfragen. Bitte in einer Minute erneut versuchen.")
    return render_template("web/error.html", code=429, message=message), 429


def _exempt() -> bool:
    """Only POSTs to views marked `form_limited` count."""
    view = current_app.view_functions.get(request.endpoint or "")
    return not (request.method == "POST" and getattr(view, "fvh_form_limited", False))


def init_app(app: Flask) -> Limiter:
    """One limiter per app (tests build many apps). Call it before anything else of the GUI:
    its check then runs first — before any query of the request (so its own short transaction
    never waits for the request's) and before CSRF (so forged posts count too)."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        default_limits=[FORM_LIMIT],
        default_limits_exempt_when=_exempt,
        storage_uri=f"{SCHEME}://",
        storage_options={"database": context.database(app)},  # type: ignore[dict-item]
        strategy="fixed-window",
        # No X-RateLimit headers: writing them after the view would need the store while the
        # request's own transaction may still hold SQLite's write lock.
        headers_enabled=False,
    )
    # The same rule as a request filter, checked first: every other request (terminal taps
    # to a combined server, page views) skips the limiter's resolution of its limits.
    limiter.request_filter(_exempt)
    app.register_error_handler(RateLimitExceeded, _too_many)
    app.extensions["fvh_limiter"] = limiter
    return limiter
