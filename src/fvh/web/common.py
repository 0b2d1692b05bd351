"""What every GUI blueprint shares: error pages and the forced password change.

(No caching of pages and the security headers come from `fvh.http.security`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException

# Endpoints a member who must change their password may still reach.
PASSWORD_CHANGE_ENDPOINTS = {"web.password", "web.logout", "web.language", "web.asset"}
ERROR_CODES = (400, 403, 404, 405, 429)
TEMPLATES_DIR = str(Path(__file__).resolve().parent / "templates")


class RequestRefused(BadRequest):
    """A 400 whose own message (in the UI language) the error page shows."""


def force_password_change() -> ResponseReturnValue | None:
    if (
        current_user.is_authenticated
        and current_user.member.must_change_password
        and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS
    ):
        return redirect(url_for("web.password"))
    return None


def error_page(exc: HTTPException) -> ResponseReturnValue:
    messages = {
        400: _("Die Anfrage war ungültig."),
        403: _("Dafür fehlt Ihnen die Berechtigung."),
        404: _("Diese Seite gibt es nicht."),
        405: _("Diese Aktion ist so nicht möglich."),
        429: _("Zu viele Anfragen. Bitte kurz warten."),
    }
    code = exc.code or 500
    message = messages.get(code, exc.name)
    if isinstance(exc, RequestRefused):
        message = exc.description
    if isinstance(exc, CSRFError):
        message = _("Das Formular ist abgelaufen oder ungültig. Bitte laden Sie die Seite neu.")
    return render_template("web/error.html", code=code, message=message), code


def gui_blueprint(name: str, import_name: str, **options: Any) -> Blueprint:
    """A blueprint of the GUI with the shared hooks (set once, as Flask requires)."""
    options.setdefault("template_folder", TEMPLATES_DIR)
    blueprint = Blueprint(name, import_name, **options)
    for code in ERROR_CODES:
        blueprint.register_error_handler(code, error_page)
    blueprint.before_request(force_password_change)
    return blueprint
