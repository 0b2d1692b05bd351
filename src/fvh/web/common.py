"""What every GUI blueprint shares: error pages and the forced password change.

Error pages are styled pages in the UI language (400, 403, 404, 405, 429 and 500). A request
on a GUI path that matches no view (an unknown address, a wrong method) gets them too
(`routing_error_page`); the API's paths keep its JSON errors. (No caching of pages and the
security headers come from `fvh.http.security`.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError
from werkzeug.routing import RequestRedirect

from fvh import db
from fvh.http.context import db_session

log = logging.getLogger(__name__)

# Endpoints a member who must change their password may still reach.
PASSWORD_CHANGE_ENDPOINTS = {"web.password", "web.logout", "web.language", "web.asset"}
ERROR_CODES = (400, 403, 404, 405, 429, 500)
TEMPLATES_DIR = str(Path(__file__).resolve().parent / "templates")


class RequestRefused(BadRequest):
    """A 400 whose own message (in the UI language) the error page shows."""


class FieldRefused(RequestRefused):
    """A 400 whose message belongs beside one field of a GET form that leads to a download
    (the statement's period): `form_page` shows the form again with the values sent and the
    message at `field`, instead of an error page."""

    def __init__(self, message: str, field: str, form_page: str) -> None:
        super().__init__(message)
        self.field = field
        self.form_page = form_page


def force_password_change() -> ResponseReturnValue | None:
    if (
        current_user.is_authenticated
        and current_user.member.must_change_password
        and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS
    ):
        return redirect(url_for("web.password"))
    return None


def _titles() -> dict[int, str]:
    return {
        400: _("Ungültige Anfrage"),
        403: _("Kein Zugriff"),
        404: _("Seite nicht gefunden"),
        405: _("Nicht möglich"),
        429: _("Zu viele Anfragen"),
        500: _("Interner Fehler"),
        503: _("Gerade nicht verfügbar"),
    }


def _messages() -> dict[int, str]:
    return {
        400: _("Die Anfrage war ungültig."),
        403: _("Dafür fehlt Ihnen die Berechtigung."),
        404: _("Diese Seite gibt es nicht."),
        405: _("Diese Aktion ist so nicht möglich."),
        429: _("Zu viele Anfragen. Bitte kurz warten."),
        500: _(
            "Auf dem Server ist ein Fehler aufgetreten. Bitte versuchen Sie es gleich noch einmal."
        ),
    }


def error_title(code: int) -> str:
    """The heading of the error page for `code` ("Seite nicht gefunden")."""
    return _titles().get(code, str(code))


def render_error(code: int, message: str | None = None) -> tuple[str, int]:
    """The styled error page for `code` in the UI language, with its own `message` if given.

    If the page itself cannot be rendered (the database is what failed, and the page's frame
    reads the organisation's name and the member), a plain page without the frame answers."""
    title = error_title(code)
    text = message or _messages().get(code, title)
    try:
        return render_template("web/error.html", code=code, title=title, message=text), code
    except Exception:  # the error page must answer whatever broke
        log.exception("the error page %s could not be rendered with its frame", code)
        return render_template("web/error_plain.html", code=code, title=title, message=text), code


def error_page(exc: HTTPException) -> ResponseReturnValue:
    code = exc.code or 500
    if isinstance(exc, FieldRefused):
        values = {name: request.args.get(name, "") for name in request.args}
        page = render_template(
            exc.form_page, form_errors={exc.field: exc.description}, form_values=values
        )
        return page, code
    message = None
    if isinstance(exc, RequestRefused):
        message = exc.description
    if isinstance(exc, CSRFError):
        message = _("Das Formular ist abgelaufen oder ungültig. Bitte laden Sie die Seite neu.")
    if isinstance(exc, InternalServerError):
        try:  # the failed request's transaction is of no use, and may block the page's reads
            db_session().rollback()
        except Exception:  # the database may be what failed
            log.warning("rollback before the error page failed", exc_info=True)
    body, status = render_error(code, message)
    headers = {}
    for header in ("Allow", "Retry-After"):
        value = exc.get_response().headers.get(header)
        if value:
            headers[header] = value
    return body, status, headers


def database_error_page(exc: DBAPIError) -> ResponseReturnValue:
    """A database error on a GUI page: the styled page, never a trace. An outage, a timeout
    or a conflict left nothing done and may be tried again (503 with Retry-After)."""
    failure = db.classify(exc)
    log.error("database error on %s %s: %s", request.method, request.path, exc.orig)
    try:
        db_session().rollback()
    except Exception:  # the database may be what failed
        log.warning("rollback before the error page failed", exc_info=True)
    if failure is db.Failure.ERROR:
        return render_error(500, None)
    if failure is db.Failure.OUTAGE:
        message = _("Die Datenbank ist nicht erreichbar. Bitte später erneut versuchen.")
    else:
        message = _("Die Datenbank ist gerade ausgelastet. Bitte gleich erneut versuchen.")
    body, status = render_error(503, message)
    return body, status, {"Retry-After": "1"}


def is_gui_path() -> bool:
    """A request that is the GUI's: not below the API's prefix (in a combined server)."""
    if current_app.config.get("FVH_MODE") == "gui":
        return True
    prefix = current_app.config.get("FVH_API_PREFIX", "")
    return not prefix or not (request.path == prefix or request.path.startswith(prefix + "/"))


def routing_error_page() -> ResponseReturnValue | None:
    """A GUI address that matches no view (404) or not with this method (405) gets the styled
    page; before this hook answered, such a request fell through to werkzeug's English page."""
    exc = request.routing_exception
    if exc is None or isinstance(exc, RequestRedirect) or not is_gui_path():
        return None
    if not isinstance(exc, HTTPException):
        return None
    return error_page(exc)


def gui_blueprint(name: str, import_name: str, **options: Any) -> Blueprint:
    """A blueprint of the GUI with the shared hooks (set once, as Flask requires)."""
    options.setdefault("template_folder", TEMPLATES_DIR)
    blueprint = Blueprint(name, import_name, **options)
    for code in ERROR_CODES:
        blueprint.register_error_handler(code, error_page)
    blueprint.register_error_handler(DBAPIError, database_error_page)
    blueprint.before_request(force_password_change)
    return blueprint
