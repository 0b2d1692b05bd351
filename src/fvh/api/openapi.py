"""The OpenAPI 3.1 description of the terminal API, and Swagger UI to read and try it.

The document is written by hand, next to the routes it describes; tests/api/test_openapi.py
proves that it lists exactly the registered routes and that real answers validate against it.
Swagger UI is vendored (static/swagger-ui, see VERSION there): stations may be offline, so the
docs page never loads anything from another host, and it has no inline script.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from flask import jsonify, render_template_string, send_from_directory, url_for
from flask.typing import ResponseReturnValue

import fvh
from fvh.api.auth import HEADER as API_KEY_HEADER
from fvh.api.routes import CONTROL_CHARACTERS, MAX_OFFSET, bp
from fvh.core import idempotency, ledger, members, passwords, tokens
from fvh.core.keys import SCOPE_ADMIN, SCOPE_TERMINAL
from fvh.http import access, limits
from fvh.http.context import app_config

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "ApiKey"
# x-fvh-scope of an operation: who may call it (a key scope, or public). An admin key may do
# everything.
SCOPE_PUBLIC = access.PUBLIC

_HERE = Path(__file__).parent
SWAGGER_UI_DIR = _HERE / "static" / "swagger-ui"
DOCS_TEMPLATE = _HERE / "templates" / "api" / "docs.html"

Schema = dict[str, Any]


# --- small builders -----------------------------------------------------------------------


def _schema(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def _object(properties: dict[str, Schema], *, required: list[str] | None = None) -> Schema:
    """A response object: every listed property present, nothing else."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _json(description: str, schema: Schema, **extra: Any) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _body(schema: Schema, description: str) -> Schema:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


_STRING = {"type": "string"}

# The patterns below state the door's text rules (fvh.api.routes) in what the regex dialects
# of Python, ECMA-262 and the validators read alike: no `\s`, whose members differ between
# them, but the characters that str.strip() drops, spelled out. tests/api/test_edges.py
# checks each pattern against the server's own validation.
_CTL = CONTROL_CHARACTERS
# Whitespace by str.isspace(): the visible kinds, and the ones that are control characters.
SPACES = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CONTROL_SPACES = r"\t-\r\x1c-\x1f\x85"
# Any text without control characters.
TEXT_PATTERN = rf"^[^{_CTL}]*$"
# ... with at least one visible character: what is left after trimming must not be empty.
NON_BLANK_PATTERN = rf"^[^{_CTL}]*[^{_CTL}{SPACES}][^{_CTL}]*$"
# name@domain.tld without spaces, surrounding spaces allowed (they are dropped).
_ADDRESS_PART = rf"[^@{_CTL}{SPACES}]+"
_OUTER = f"[{SPACES}]*"
EMAIL_PATTERN = rf"^{_OUTER}{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}{_OUTER}$"
# Standard base64 with padding, in its canonical spelling, of 1 to 32 bytes: up to ten
# groups of four, then a group for the last one or two bytes (whose unused bits are zero).
_B64 = "[A-Za-z0-9+/]"
_B64_TAIL = f"{_B64}[AQgw]==|{_B64}{{2}}[AEIMQUYcgkosw048]="
# A token is not a text field: outer whitespace of every kind is dropped, controls included.
_STRIPPED = f"[{SPACES}{CONTROL_SPACES}]*"
TOKEN_PATTERN = (
    rf"^{_STRIPPED}(?:(?:{_B64}{{4}}){{1,10}}|(?:{_B64}{{4}}){{0,10}}(?:{_B64_TAIL})){_STRIPPED}$"
)
# A header arrives as Latin-1; Python's isprintable() refuses C0, DEL to NBSP and the soft
# hyphen. HTTP drops the spaces and tabs around a header value.
_PRINTABLE = r"[ -~\xa1-\xac\xae-\xff]"
_VISIBLE = r"[!-~\xa1-\xac\xae-\xff]"
IDEMPOTENCY_KEY_PATTERN = (
    rf"^{_VISIBLE}(?:{_PRINTABLE}{{0,{idempotency.MAX_KEY_LENGTH - 2}}}{_VISIBLE})?$"
)
_NO_CONTROLS = "No control characters (U+0000 to U+001F, U+007F to U+009F), no lone surrogates."
_SALDO = {
    "type": "number",
    "description": "Balance in currency units: an integer for whole amounts (`5`), "
    "a float otherwise (`4.5`); never a string. Terminals do `int(saldo)`.",
    "examples": [5, 4.5, -2],
}
_SPOKEN = {
    "type": "string",
    "description": "A German sentence the terminal speaks aloud (text-to-speech).",
}

_LIST_HEADERS = {
    "X-Total-Count": {"$ref": "#/components/headers/X-Total-Count"},
    "X-Limit": {"$ref": "#/components/headers/X-Limit"},
    "X-Offset": {"$ref": "#/components/headers/X-Offset"},
}
_LIST_PARAMS = [
    {"$ref": "#/components/parameters/limit"},
    {"$ref": "#/components/parameters/offset"},
]
# Terminals read /saldo-alle whole: its page is as long as allowed unless asked otherwise.
_WHOLE_LIST_PARAMS = [
    {"$ref": "#/components/parameters/limitWholeList"},
    {"$ref": "#/components/parameters/offset"},
]
_CODE_PARAM = [{"$ref": "#/components/parameters/code"}]
_IDEMPOTENCY_PARAM = [{"$ref": "#/components/parameters/Idempotency-Key"}]


def _operation(
    operation_id: str,
    summary: str,
    scope: str,
    responses: dict[str, Schema],
    *,
    description: str = "",
    tags: list[str],
    parameters: list[Schema] | None = None,
    request_body: Schema | None = None,
    uses_database: bool = True,
) -> Schema:
    """One operation; adds the outcomes that every operation of its scope shares."""
    scope_text = {
        SCOPE_PUBLIC: "No API key needed.",
        SCOPE_TERMINAL: "Needs an API key of scope `terminal` (or `admin`).",
        SCOPE_ADMIN: "Needs an API key of scope `admin`; a terminal key gets 403.",
    }[scope]
    op: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "description": f"{description}\n\n**Scope:** {scope_text}".strip(),
        "tags": tags,
        "x-fvh-scope": scope,
        "security": [] if scope == SCOPE_PUBLIC else [{SECURITY_SCHEME: []}],
    }
    if parameters:
        op["parameters"] = parameters
    if request_body is not None:
        op["requestBody"] = request_body
    all_responses = dict(responses)
    if scope != SCOPE_PUBLIC:
        all_responses["401"] = _response("Unauthorized")
    if scope == SCOPE_ADMIN:
        all_responses["403"] = _response("Forbidden")
    if uses_database:
        all_responses["500"] = _response("InternalError")
        all_responses["503"] = _response("DatabaseUnavailable")
    op["responses"] = dict(sorted(all_responses.items()))
    return op


# --- components ---------------------------------------------------------------------------


def _components() -> Schema:
    config = app_config()
    code_pattern = "^[0-9]{10}$"
    schemas: dict[str, Schema] = {
        "Error": {
            **_object({"error": {"type": "string", "description": "What went wrong (German)."}}),
            "description": "Every error answer. Booking errors are sentences to speak aloud.",
        },
        "Message": _object({"message": _STRING}),
        "Version": _object({"version": {"type": "string", "examples": [fvh.__version__]}}),
        "Saldo": _SALDO,
        "MemberCode": {
            "type": "string",
            "pattern": code_pattern,
            "description": "A member's code: exactly ten digits.",
            "examples": ["1234567890"],
        },
        "BalanceEntry": _object(
            {
                "id": {"type": "integer"},
                "nachname": _STRING,
                "vorname": _STRING,
                "saldo": _schema("Saldo"),
            }
        ),
        "Person": _object({"nachname": _STRING, "vorname": _STRING, "saldo": _schema("Saldo")}),
        "PersonName": _object({"nachname": _STRING, "vorname": _STRING}),
        "User": _object({"code": _schema("MemberCode"), "nachname": _STRING, "vorname": _STRING}),
        "NewPerson": {
            "type": "object",
            "properties": {
                "code": _schema("MemberCode"),
                "nachname": _schema("Name"),
                "vorname": _schema("Name"),
                "password": {
                    "type": ["string", "null"],
                    "minLength": passwords.MIN_LENGTH,
                    "maxLength": passwords.MAX_LENGTH,
                    "pattern": NON_BLANK_PATTERN,
                    "description": "Optional: lets the member log in to the web GUI. Absent "
                    "or null: none; an empty or blank one is refused. Not one of the most common "
                    f"passwords (compared without case and outer spaces). {_NO_CONTROLS}",
                },
                "email": {
                    "type": ["string", "null"],
                    "maxLength": members.MAX_NAME_LENGTH,
                    "pattern": EMAIL_PATTERN,
                    "description": "Optional, unique (stored in lower case, without outer "
                    "spaces). Absent or null: none; an empty or blank one is refused. "
                    f"{_NO_CONTROLS}",
                    "examples": ["carla.klein@example.org"],
                },
            },
            "required": ["code", "nachname", "vorname"],
            "description": "Unknown fields are ignored.",
        },
        "PersonCreated": _object(
            {
                "message": _STRING,
                "code": _schema("MemberCode"),
                "nachname": _STRING,
                "vorname": _STRING,
            }
        ),
        "JournalDeleted": _object(
            {
                "message": _STRING,
                "anzahl": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Number of deleted bookings.",
                },
            }
        ),
        "Transaction": _object(
            {
                "id": {"type": "integer"},
                "code": _schema("MemberCode"),
                "nachname": _STRING,
                "vorname": _STRING,
                "beschreibung": {"type": "string", "maxLength": ledger.MAX_DESCRIPTION_LENGTH},
                "saldo_aenderung": {
                    **_SALDO,
                    "description": "Amount booked, in currency units (negative for a debit).",
                },
                "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
                    "description": "Booking time in UTC, to the second.",
                    "examples": ["2024-05-01T18:30:00Z"],
                },
                "storno_von": {
                    "type": ["integer", "null"],
                    "description": "For a reversal (storno): the id of the booking it cancels.",
                },
            }
        ),
        "Name": {
            "type": "string",
            "maxLength": members.MAX_NAME_LENGTH,
            "pattern": NON_BLANK_PATTERN,
            "description": "A first or last name: at least one visible character, at most "
            f"{members.MAX_NAME_LENGTH} characters as sent; outer spaces are dropped. "
            f"{_NO_CONTROLS}",
            "examples": ["Klein"],
        },
        "Beschreibung": {
            "type": "string",
            "maxLength": ledger.MAX_DESCRIPTION_LENGTH,
            "pattern": TEXT_PATTERN,
            "description": "The terminal's own name, e.g. `Kasse Theke`; stored with the booking "
            f"(outer spaces dropped). May be empty. {_NO_CONTROLS}",
            "examples": ["Kasse Theke"],
        },
        "BookingByCodeRequest": {
            "type": "object",
            "properties": {"beschreibung": _schema("Beschreibung")},
            "required": ["beschreibung"],
            "description": "Unknown fields are ignored.",
        },
        "BookingByTokenRequest": {
            "type": "object",
            "properties": {
                "token": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "pattern": TOKEN_PATTERN,
                    "description": "The NFC token's raw bytes (card UID or phone ATS, "
                    f"1 to {tokens.MAX_TOKEN_BYTES} bytes), standard base64 with padding in its "
                    "canonical spelling (unused bits zero); outer whitespace is dropped.",
                    "examples": ["BKIrHA=="],
                },
                "beschreibung": _schema("Beschreibung"),
            },
            "required": ["token", "beschreibung"],
            "description": "Unknown fields are ignored.",
        },
        "BookedByCode": _object(
            {"message": _SPOKEN, "saldo": _schema("Saldo"), "vorname": _STRING}
        ),
        "BookedByToken": _object({"message": _SPOKEN, "saldo": _schema("Saldo")}),
        "BookingRefused": {
            **_object(
                {
                    "message": _SPOKEN,
                    "action": {"type": "string", "enum": ["block", "locked"]},
                }
            ),
            "description": "Nothing was booked. `block`: the balance would fall below the "
            "allowed minimum; `locked`: the member's account is locked.",
        },
        "BookingBlocked": {
            **_object({"message": _SPOKEN, "action": {"type": "string", "enum": ["block"]}}),
            "description": "Nothing was booked: the balance would fall below the allowed minimum.",
        },
    }
    error = _schema("Error")
    responses: dict[str, Schema] = {
        "BadRequest": _json(
            "Invalid request: body not a JSON object, a field missing or of the wrong type, "
            "an invalid code, token, `limit`/`offset` or `Idempotency-Key`.",
            error,
        ),
        "Unauthorized": _json(f"`{API_KEY_HEADER}` missing, unknown or revoked.", error),
        "Forbidden": _json("The API key's scope does not allow this (admin scope needed).", error),
        "UnknownCode": _json("No member has this code.", error),
        "PayloadTooLarge": _json(
            f"The request body is larger than {config.api_max_body_bytes} bytes.", error
        ),
        "IdempotencyInProgress": _json(
            "A request with the same `Idempotency-Key` is still being processed.", error
        ),
        "IdempotencyKeyReused": _json(
            "The `Idempotency-Key` was already used with a different request; nothing booked.",
            error,
        ),
        "InternalError": _json("Unexpected database error.", error),
        "DatabaseUnavailable": _json("The database cannot be reached; try again later.", error),
    }
    parameters: dict[str, Schema] = {
        "code": {
            "name": "code",
            "in": "path",
            "required": True,
            "description": "The member's ten-digit code; any other form gets 400.",
            "schema": _schema("MemberCode"),
        },
        "limit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Page size, ASCII digits; given at most once.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": config.api_list_max_limit,
                "default": config.api_list_limit,
            },
        },
        "limitWholeList": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Page size, ASCII digits; given at most once. By default the "
            "whole list (up to the maximum).",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": config.api_list_max_limit,
                "default": config.api_list_max_limit,
            },
        },
        "offset": {
            "name": "offset",
            "in": "query",
            "required": False,
            "description": "Number of entries to skip, ASCII digits. `limit` and `offset` "
            "may each be given once; a repeated one gets 400.",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        },
        "Idempotency-Key": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Optional. A retry with the same key (per API key) and the same "
            "request gets the first answer again and books nothing; the same key with another "
            "request gets 422, and 409 while the first is still running. Keys are kept for "
            f"{config.idempotency_ttl_hours} hours.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
                "description": f"1 to {idempotency.MAX_KEY_LENGTH} printable characters after "
                "outer spaces are dropped.",
            },
        },
    }
    count_header = {"required": True, "schema": {"type": "integer", "minimum": 0}}
    headers: dict[str, Schema] = {
        "X-Total-Count": {**count_header, "description": "Number of entries in all pages."},
        "X-Limit": {**count_header, "description": "The page size used."},
        "X-Offset": {**count_header, "description": "The offset used."},
    }
    return {
        "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "apiKey",
                "in": "header",
                "name": API_KEY_HEADER,
                "description": "A key issued in the admin GUI, of scope `terminal` or `admin`.",
            }
        },
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "headers": headers,
    }


# --- paths --------------------------------------------------------------------------------


def _paths() -> Schema:
    terminal, admin, public = SCOPE_TERMINAL, SCOPE_ADMIN, SCOPE_PUBLIC
    error = _schema("Error")
    bad_request = _response("BadRequest")
    unknown_code = _response("UnknownCode")
    return {
        "/health": {
            "get": _operation(
                "health",
                "Is the server running?",
                public,
                {"200": _json("The server runs.", _schema("Message"))},
                description="No database access. Terminals treat any non-2xx answer as fatal.",
                tags=["Health"],
                uses_database=False,
            )
        },
        "/health-protected": {
            "get": _operation(
                "healthProtected",
                "Is the key valid and the database reachable?",
                terminal,
                {"200": _json("Key valid, database round trip done.", _schema("Message"))},
                tags=["Health"],
            )
        },
        "/version": {
            "get": _operation(
                "version",
                "Server version",
                terminal,
                {"200": _json("The version. Read by terminals.", _schema("Version"))},
                tags=["Health"],
            )
        },
        "/saldo-alle": {
            "get": _operation(
                "balances",
                "All members' balances",
                terminal,
                {
                    "200": _json(
                        "Sorted by saldo descending, then nachname, vorname. Read by terminals.",
                        {"type": "array", "items": _schema("BalanceEntry")},
                        headers=_LIST_HEADERS,
                    ),
                    "400": bad_request,
                },
                parameters=_WHOLE_LIST_PARAMS,
                tags=["Terminal"],
            )
        },
        "/person/{code}": {
            "get": _operation(
                "person",
                "A member's name and balance",
                terminal,
                {
                    "200": _json("The member. Read by terminals.", _schema("Person")),
                    "400": bad_request,
                    "404": unknown_code,
                },
                parameters=_CODE_PARAM,
                tags=["Terminal"],
            ),
            "delete": _operation(
                "deletePerson",
                "Delete a member",
                admin,
                {
                    "200": _json("Deleted, with tokens and journal.", _schema("Message")),
                    "400": bad_request,
                    "404": unknown_code,
                    "409": _json("The last administrator cannot be deleted.", error),
                },
                description="Deletes the member with their tokens and bookings; the audit log "
                "keeps a record.",
                parameters=_CODE_PARAM,
                tags=["Admin"],
            ),
        },
        "/person/existent/{code}": {
            "get": _operation(
                "personExists",
                "Does a member with this code exist?",
                terminal,
                {
                    "200": _json("The member's name.", _schema("PersonName")),
                    "400": bad_request,
                    "404": unknown_code,
                },
                parameters=_CODE_PARAM,
                tags=["Terminal"],
            )
        },
        "/users": {
            "get": _operation(
                "users",
                "All members (code and name)",
                admin,
                {
                    "200": _json(
                        "Sorted by nachname, vorname.",
                        {"type": "array", "items": _schema("User")},
                        headers=_LIST_HEADERS,
                    ),
                    "400": bad_request,
                },
                parameters=_LIST_PARAMS,
                tags=["Admin"],
            )
        },
        "/person": {
            "post": _operation(
                "createPerson",
                "Create a member",
                admin,
                {
                    "201": _json("Created.", _schema("PersonCreated")),
                    "400": bad_request,
                    "409": _json("The code or e-mail address is already taken.", error),
                    "413": _response("PayloadTooLarge"),
                },
                request_body=_body(_schema("NewPerson"), "The new member."),
                tags=["Admin"],
            )
        },
        "/transaktionen": {
            "get": _operation(
                "transactions",
                "The journal, newest first",
                admin,
                {
                    "200": _json(
                        "Bookings, newest first.",
                        {"type": "array", "items": _schema("Transaction")},
                        headers=_LIST_HEADERS,
                    ),
                    "400": bad_request,
                },
                parameters=_LIST_PARAMS,
                tags=["Admin"],
            ),
            "delete": _operation(
                "deleteAllTransactions",
                "Delete every booking",
                admin,
                {"200": _json("Deleted; every balance is 0 now.", _schema("JournalDeleted"))},
                tags=["Admin"],
            ),
        },
        "/person/transaktionen/{code}": {
            "delete": _operation(
                "deleteMemberTransactions",
                "Delete one member's bookings",
                admin,
                {
                    "200": _json(
                        "Deleted; the member's balance is 0 now.", _schema("JournalDeleted")
                    ),
                    "400": bad_request,
                    "404": unknown_code,
                },
                parameters=_CODE_PARAM,
                tags=["Admin"],
            )
        },
        "/person/{code}/transaktion": {
            "put": _operation(
                "bookByCode",
                "Book the default amount by member code (QR terminal)",
                terminal,
                {
                    "200": _json(
                        "Booked, or refused (`action` block/locked; nothing booked). "
                        "Read by terminals.",
                        {"oneOf": [_schema("BookedByCode"), _schema("BookingRefused")]},
                    ),
                    "400": bad_request,
                    "404": unknown_code,
                    "409": _response("IdempotencyInProgress"),
                    "413": _response("PayloadTooLarge"),
                    "422": _response("IdempotencyKeyReused"),
                },
                description="Debits the configured default amount (a system setting, -1 unit "
                "unless an admin changes it). The body need not be sent as `application/json`.",
                parameters=_CODE_PARAM + _IDEMPOTENCY_PARAM,
                request_body=_body(_schema("BookingByCodeRequest"), "Who books."),
                tags=["Terminal"],
            )
        },
        "/nfc-transaktion": {
            "put": _operation(
                "bookByToken",
                "Book the default amount by NFC token",
                terminal,
                {
                    "200": _json(
                        "Booked, or blocked (`action` block; nothing booked). Read by terminals.",
                        {"oneOf": [_schema("BookedByToken"), _schema("BookingBlocked")]},
                    ),
                    "400": bad_request,
                    "403": _json("The member's account is locked (sentence to speak).", error),
                    "404": _json(
                        "No member owns this token (sentence to speak). The scan is recorded "
                        "so an admin can assign the token.",
                        error,
                    ),
                    "409": _response("IdempotencyInProgress"),
                    "413": _response("PayloadTooLarge"),
                    "422": _response("IdempotencyKeyReused"),
                },
                description="Debits the configured default amount from the token's owner and "
                "stores the token's last use. The body need not be sent as `application/json`.",
                parameters=_IDEMPOTENCY_PARAM,
                request_body=_body(_schema("BookingByTokenRequest"), "The token and who books."),
                tags=["Terminal"],
            )
        },
    }


_DESCRIPTION = f"""\
The JSON API of FVH (Feuerwehr-Versorgungs-Helfer) that the tally-list terminals use.
Field names are German on purpose: they are the protocol.

* **Authentication:** header `{API_KEY_HEADER}` on every endpoint except `/health`.
  A key has scope `terminal` or `admin`; an admin key may do everything.
  Each operation's `x-fvh-scope` says which scope it needs.
* **Errors** are JSON objects `{{"error": "..."}}`, German, never a stack trace.
  A method a path does not allow gets 405 with an `Allow` header.
* **Lists** are paged with `limit`/`offset`; `X-Total-Count` gives the number of all entries.
* **Bookings** accept an optional `Idempotency-Key` header for safe retries.
* **The request's head** is limited on every path: a request line over
  {limits.MAX_REQUEST_LINE} bytes gets 414, a header line over {limits.MAX_HEADER_FIELD}
  bytes or more than {limits.MAX_HEADER_FIELDS} headers 431, a header value with a control
  character 400, each as such a JSON error.
"""


def build_document() -> Schema:
    """The OpenAPI document for the running app (call inside a request: `servers` needs it)."""
    base = url_for("api.health")[: -len("/health")]  # script root + API prefix
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "FVH Terminal-API",
            "version": fvh.__version__,
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": base or "/", "description": "This server"}],
        "tags": [
            {"name": "Terminal", "description": "Used by the terminals."},
            {"name": "Admin", "description": "Administration (admin scope)."},
            {"name": "Health", "description": "Liveness and version."},
        ],
        "paths": _paths(),
        "components": _components(),
    }


# --- views --------------------------------------------------------------------------------


@functools.cache
def _docs_template() -> str:
    return DOCS_TEMPLATE.read_text(encoding="utf-8")


@bp.get("/openapi.json")
@access.public
def openapi() -> ResponseReturnValue:
    return jsonify(build_document())


@bp.get("/docs")
@access.public
def docs() -> ResponseReturnValue:
    return render_template_string(_docs_template(), spec_url=url_for("api.openapi"))


@bp.get("/docs/static/<path:filename>")
@access.public
def docs_static(filename: str) -> ResponseReturnValue:
    return send_from_directory(SWAGGER_UI_DIR, filename)
