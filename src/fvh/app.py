"""The Flask application factory and the per-request database session."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Request, current_app, g
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.orm import Session

from fvh import observability, security
from fvh.config import Config, load_config
from fvh.db import Database
from fvh.routing import IdConverter

MODES = ("combined", "api", "gui")
log = logging.getLogger(__name__)


def create_app(
    config: Mapping[str, Any] | Config | None = None, *, mode: str = "combined"
) -> Flask:
    """Build the app. `mode` chooses the doors: both (API under its prefix), API only, GUI only.

    `config` is a Config or a mapping of overrides (e.g. `{"DATABASE_URL": ...}`) on top of
    the environment and `.env`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    settings = config if isinstance(config, Config) else load_config(config)
    security.check_secret(settings, testing=bool(settings.extra.get("TESTING")))
    security.check_password_method(settings, testing=bool(settings.extra.get("TESTING")))
    observability.configure_logging(settings.log_level, settings.log_format)
    app = FvhFlask(__name__)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(
        SECRET_KEY=settings.app_secret,
        FVH=settings,
        FVH_MODE=mode,
        MAX_CONTENT_LENGTH=1024 * 1024,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
    )
    app.config.update(settings.extra)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    init_db(app, settings)
    observability.init_app(app)
    security.init_headers(app)
    security.init_proxy(app, settings)

    from fvh import api, ops, web

    ops.init_app(app)
    if mode in ("combined", "api"):
        api.init_app(app, prefix=settings.api_prefix if mode == "combined" else "")
    if mode in ("combined", "gui"):
        web.init_app(app)
    return app


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for requests that carry no
    session cookie (every terminal request): a fresh, empty session is all they get anyway."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ:  # terminals send none: spare the parsing
            return self.session_class()
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


class FvhFlask(Flask):
    """Flask with one addition: STATIC_URL_PREFIX moves the GUI's static files (CSS, JS,
    icons) to where a proxy serves them itself, e.g. `/fvh-static/fvh.css`."""

    STATIC_ENDPOINTS = ("static", "web.asset")
    session_interface = CookieSessionInterface()

    def url_for(self, endpoint: str, /, *args: Any, **values: Any) -> str:
        prefix = self.config["FVH"].static_url_prefix
        if prefix and endpoint in self.STATIC_ENDPOINTS:
            filename = values.pop("filename")
            params = {k: v for k, v in values.items() if not k.startswith("_") and v is not None}
            query = f"?{urlencode(params)}" if params else ""  # e.g. the version, for caches
            return f"{prefix.rstrip('/')}/{filename}{query}"
        return super().url_for(endpoint, *args, **values)


def init_db(app: Flask, settings: Config) -> None:
    """Attach the Database (engine, sessions) to the app; close each request's session."""
    database = Database(settings.resolved_database_url, pool_size=settings.mysql_pool_size)
    app.extensions["fvh_db"] = database

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()  # anything the door did not commit explicitly is discarded
            session.close()


def get_database() -> Database:
    return current_app.extensions["fvh_db"]


def db_session() -> Session:
    """The session of the current request; the door commits it at its boundary."""
    if "db_session" not in g:
        g.db_session = get_database().sessionmaker()
    return g.db_session


def settings() -> Config:
    return current_app.config["FVH"]
