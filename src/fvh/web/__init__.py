"""The web GUI door: login for members, administration under /admin/.

`init_app` registers what only this door needs: CSRF protection (the JSON API is exempt),
Flask-Login sessions, languages, the error page for CSRF failures and the blueprints.
"""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

import fvh
from fvh.core import tokens
from fvh.http.context import begin_by_method
from fvh.http.cookies import CookieSessionInterface
from fvh.web import auth, i18n, limiter, paging
from fvh.web.common import error_title, render_error, routing_error_page

csrf = CSRFProtect()


class GuiSessionInterface(CookieSessionInterface):
    """Signed cookie sessions; the cookie is Secure when forced by config or on HTTPS.

    Requests without a session cookie (the terminals' requests to a combined server) get an
    empty session without parsing or signing anything, as in `fvh.http.cookies`."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _csrf_error(_exc: CSRFError) -> ResponseReturnValue:
    return render_error(
        400, _("Das Formular ist abgelaufen oder ungültig. Bitte laden Sie die Seite neu.")
    )


# The GUI's top-level blueprints; static files (`web.asset`) need no database.
GUI_BLUEPRINTS = frozenset({"web", "admin", "account"})
NO_DATABASE_ENDPOINTS = frozenset({"web.asset", "static"})


def _page_views_read() -> None:
    """A page view (GET) of the GUI reads in a read transaction, so however long it renders
    (a statement PDF, a CSV export) terminal taps don't wait behind it; a POST writes."""
    if (
        request.blueprints
        and request.blueprints[-1] in GUI_BLUEPRINTS
        and request.endpoint not in NO_DATABASE_ENDPOINTS
    ):
        begin_by_method()


def init_app(app: Flask) -> None:
    from fvh.web.account import bp as account_bp
    from fvh.web.admin import bp as admin_bp
    from fvh.web.views import bp as web_bp

    app.before_request(_page_views_read)  # first: before anything reads the database
    app.before_request(routing_error_page)  # an unknown GUI address: the styled 404/405
    limiter.init_app(app)  # before the other hooks but one: see fvh.web.limiter (POSTs only)
    app.session_interface = GuiSessionInterface()
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    auth.init_app(app)
    i18n.init_app(app)
    csrf.init_app(app)
    if "api" in app.blueprints:
        csrf.exempt(app.blueprints["api"])
    # By class, not by code 400: the API's JSON handler keeps answering its other 400s.
    app.register_error_handler(CSRFError, _csrf_error)
    app.jinja_env.globals["fvh_version"] = fvh.__version__
    app.jinja_env.globals["error_title"] = error_title
    app.jinja_env.globals["system"] = i18n.system
    app.jinja_env.globals["page_url"] = paging.page_url
    app.jinja_env.globals["sort_url"] = paging.sort_url
    app.jinja_env.filters["token_hex"] = tokens.to_hex
    app.register_blueprint(web_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(account_bp)
