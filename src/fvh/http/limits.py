"""The limits of a request's head that FVH checks itself: an over-long request line, an
over-large header, too many headers or a header with control characters is refused in the
door's own format (the API's JSON error, a plain page for the GUI) instead of the HTTP
server's HTML.

gunicorn's own limits are set above these (fvh.ops.serving), so FVH's apply first; what
gunicorn still refuses (beyond its limits, or characters it never passes on) its worker
answers with the same words (`refusal`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

MAX_REQUEST_LINE = 4096  # bytes of method, target and protocol
MAX_HEADER_FIELD = 8190  # bytes of one header line: name, ": " and value
MAX_HEADER_FIELDS = 100
# RFC 9110 5.5: a field value carries no control character but the tab.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")

MESSAGES = {
    400: "Die Anfrage ist fehlerhaft (Anfragezeile oder Kopfzeilen).",
    414: "Die Adresse der Anfrage ist zu lang.",
    431: "Die Kopfzeilen der Anfrage sind zu groß.",
}


class LimitExceeded(HTTPException):
    """A request refused for its head. Its page is plain text; on API paths the API's error
    handler answers it as JSON, like any other error there."""

    def __init__(self, status: int) -> None:
        super().__init__(MESSAGES[status])
        self.code = status

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        return f"{self.description}\n"

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [("Content-Type", "text/plain; charset=utf-8")]


def _headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request's header fields as the WSGI server passed them on."""
    fields = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            fields.append((key[5:].replace("_", "-"), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            fields.append((key.replace("_", "-"), str(value)))
    return fields


def exceeded(environ: Mapping[str, Any]) -> int | None:
    """The status for the first limit the request's head exceeds; None if it keeps them."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if query and "?" not in target:  # some servers (and werkzeug's test client) leave it out
        target = f"{target}?{query}"
    line = f"{environ.get('REQUEST_METHOD', '')} {target} {environ.get('SERVER_PROTOCOL', '')}"
    if len(line.encode("latin-1", "replace")) > MAX_REQUEST_LINE:
        return 414
    fields = _headers(environ)
    if len(fields) > MAX_HEADER_FIELDS:
        return 431
    if any(len(name) + 2 + len(value) > MAX_HEADER_FIELD for name, value in fields):
        return 431
    if any(_CONTROL.search(value) for _name, value in fields):
        return 400
    return None


def refusal(status: int, *, as_json: bool) -> tuple[bytes, str]:
    """The body and content type that refuse a request with `status`, for a server that
    answers before the app (gunicorn's worker)."""
    if as_json:
        error = {"error": MESSAGES[status]}
        body = json.dumps(error, ensure_ascii=False, separators=(",", ":")) + "\n"
        return body.encode(), "application/json"
    return f"{MESSAGES[status]}\n".encode(), "text/plain; charset=utf-8"


def _check_head() -> None:
    status = exceeded(request.environ)
    if status is not None:
        raise LimitExceeded(status)


def init_app(app: Flask) -> None:
    """Check every request's head first, before any other hook reads it."""
    app.before_request_funcs.setdefault(None, []).insert(0, _check_head)
