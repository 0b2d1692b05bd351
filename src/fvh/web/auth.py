"""Sessions of logged-in members: Flask-Login, the session policy and the access decorators.

A session carries the member's id, their `session_version` at login and the login time.
It ends when the version in the database moves on (logout, password change, lock), after
30 idle minutes (the cookie's signed age) or 12 hours after login, whatever comes first.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, abort, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from fvh.core import audit
from fvh.db.models import Member
from fvh.http import access
from fvh.http.context import app_config, db_session

F = TypeVar("F", bound=Callable[..., Any])

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
SESSION_VERSION_KEY = "fvh_sv"
LOGIN_AT_KEY = "fvh_login_at"

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.session_protection = "basic"


class SessionUser(UserMixin):
    """The logged-in member as Flask-Login sees it; the domain model stays Flask-free."""

    def __init__(self, member: Member) -> None:
        self.member = member

    def get_id(self) -> str:
        return str(self.member.id)

    @property
    def is_admin(self) -> bool:
        return self.member.is_admin


@login_manager.user_loader
def _load_user(user_id: str) -> SessionUser | None:
    """The member of this session, unless the session ended in the meantime."""
    login_at = session.get(LOGIN_AT_KEY)
    if not isinstance(login_at, int | float):
        return None
    if time.time() - login_at > ABSOLUTE_LIFETIME.total_seconds():
        return None
    try:
        member = db_session().get(Member, int(user_id))
    except ValueError:
        return None
    if member is None or member.locked:
        return None
    if session.get(SESSION_VERSION_KEY) != member.session_version:
        return None
    return SessionUser(member)


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    return redirect(url_for("web.login", next=_relative_url()))


def _relative_url() -> str:
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def start_session(member: Member) -> None:
    """Log the member in with a fresh session (no data of the anonymous one carried over)."""
    session.clear()
    session.permanent = True  # the idle timeout: PERMANENT_SESSION_LIFETIME, refreshed per request
    login_user(SessionUser(member))
    remember_version(member)
    session[LOGIN_AT_KEY] = int(time.time())


def remember_version(member: Member) -> None:
    """Keep this session alive after the member raised their own session version."""
    session[SESSION_VERSION_KEY] = member.session_version


def end_session() -> None:
    logout_user()
    session.clear()


def current_member() -> Member:
    return current_user.member


def current_actor() -> audit.Actor:
    member = current_member()
    return audit.Actor.for_member(member.id, f"{member.full_name} ({member.code})")


def login_required_rule(view: F) -> F:
    """Enforce and declare access rule LOGIN: any logged-in member."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return access.mark(access.LOGIN)(wrapper)  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """Enforce and declare access rule ADMIN: anonymous to the login page, members get 403."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return access.mark(access.ADMIN)(wrapper)  # type: ignore[return-value]


SESSION_POLICY = {
    "PERMANENT_SESSION_LIFETIME": IDLE_TIMEOUT,
    "SESSION_REFRESH_EACH_REQUEST": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "fvh_session",
}


def init_app(app: Flask) -> None:
    # Flask has defaults for all of these; an explicit override passed to create_app wins.
    overrides = app_config(app).extra
    app.config.update({k: v for k, v in SESSION_POLICY.items() if k not in overrides})
    login_manager.init_app(app)
