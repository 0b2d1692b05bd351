"""JSON errors for the API: a clear message, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from fvh import db

log = logging.getLogger(__name__)

DB_UNAVAILABLE = "Die Datenbank ist nicht erreichbar. Bitte später erneut versuchen."
DB_BUSY = "Die Datenbank ist gerade ausgelastet. Bitte gleich erneut versuchen."
DB_ERROR = "Interner Fehler der Datenbank."
RETRY_AFTER_SECONDS = "1"
# German defaults for werkzeug's generic (English) descriptions.
DEFAULT_MESSAGES = {
    400: "Ungültige Anfrage.",
    401: "API-Key fehlt oder ist ungültig.",
    403: "Keine Berechtigung.",
    404: "Nicht gefunden.",
    405: "Diese Methode ist hier nicht erlaubt.",
    413: "Die Anfrage ist zu groß.",
    415: "Nicht unterstützter Inhaltstyp.",
    429: "Zu viele Anfragen. Bitte kurz warten.",
}


def is_api_request() -> bool:
    if current_app.config.get("FVH_MODE") == "api" or request.blueprint == "api":
        return True
    prefix = current_app.config.get("FVH_API_PREFIX", "")
    return bool(prefix) and (request.path == prefix or request.path.startswith(prefix + "/"))


def error(message: str, status: int) -> ResponseReturnValue:
    return jsonify(error=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        if not is_api_request():
            return exc
        message = exc.description
        if not message or message == type(exc).description:
            message = DEFAULT_MESSAGES.get(exc.code or 500, exc.name)
        response = exc.get_response()
        body = jsonify(error=message)
        body.status_code = exc.code or 500
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if header in response.headers:
                body.headers[header] = response.headers[header]
        return body

    @app.errorhandler(DBAPIError)
    def _db_error(exc: DBAPIError) -> ResponseReturnValue:
        # The server unreachable, a lock or statement out of time, a conflict: the request's
        # transaction was rolled back and may be sent again (503 with Retry-After). Any other
        # driver error is a 500. Neither is ever reported as "not found" or "invalid key".
        failure = db.classify(exc)
        log.error("database error on %s %s: %s", request.method, request.path, exc.orig)
        if failure is db.Failure.ERROR:
            message, status, headers = DB_ERROR, 500, {}
        else:
            message = DB_UNAVAILABLE if failure is db.Failure.OUTAGE else DB_BUSY
            status, headers = 503, {"Retry-After": RETRY_AFTER_SECONDS}
        if not is_api_request():
            return message, status, headers
        return jsonify(error=message), status, headers

    @app.errorhandler(InternalServerError)
    def _internal(exc: InternalServerError) -> ResponseReturnValue:
        if is_api_request():
            return error("Interner Fehler.", 500)
        return exc
