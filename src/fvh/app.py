"""The Flask application factory: assembles the configuration, the database and the doors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from fvh.config import Config, load_config
from fvh.core import passwords
from fvh.db import Database
from fvh.http import context, limits, observability, security
from fvh.http.cookies import CookieSessionInterface
from fvh.http.routing import IdConverter

MODES = ("combined", "api", "gui")
log = logging.getLogger(__name__)


def create_app(
    config: Mapping[str, Any] | Config | None = None,
    *,
    mode: str = "combined",
    database: Database | None = None,
) -> Flask:
    """Build the app. `mode` chooses the doors: both (API under its prefix), API only, GUI only.

    `config` is a Config or a mapping of overrides (e.g. `{"DATABASE_URL": ...}`) on top of
    the environment and `.env`. `database` is an existing Database to use instead of one
    opened from the configuration (see `fvh.http.context.init_app`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    settings = config if isinstance(config, Config) else load_config(config)
    security.check_secret(settings, testing=bool(settings.extra.get("TESTING")))
    security.check_password_method(settings, testing=bool(settings.extra.get("TESTING")))
    passwords.configure(settings.password_hash_method)
    observability.configure_logging(settings.log_level, settings.log_format)
    app = FvhFlask(__name__)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(
        SECRET_KEY=settings.app_secret,
        FVH_MODE=mode,
        MAX_CONTENT_LENGTH=1024 * 1024,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
    )
    app.config.update(settings.extra)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    context.init_app(app, settings, database)
    observability.init_app(app)
    security.init_headers(app)
    limits.init_app(app)
    security.init_proxy(app, settings)

    from fvh import api, web
    from fvh.ops import metrics

    metrics.init_app(app)
    if mode in ("combined", "api"):
        api.init_app(app, prefix=settings.api_prefix if mode == "combined" else "")
    if mode in ("combined", "gui"):
        web.init_app(app)
    return app


class FvhFlask(Flask):
    """Flask with one addition: STATIC_URL_PREFIX moves the GUI's static files (CSS, JS,
    icons) to where a proxy serves them itself, e.g. `/fvh-static/fvh.css`."""

    STATIC_ENDPOINTS = ("static", "web.asset")
    session_interface = CookieSessionInterface()

    def url_for(self, endpoint: str, /, *args: Any, **values: Any) -> str:
        prefix = context.app_config(self).static_url_prefix
        if prefix and endpoint in self.STATIC_ENDPOINTS:
            filename = values.pop("filename")
            params = {k: v for k, v in values.items() if not k.startswith("_") and v is not None}
            query = f"?{urlencode(params)}" if params else ""  # e.g. the version, for caches
            return f"{prefix.rstrip('/')}/{filename}{query}"
        return super().url_for(endpoint, *args, **values)
