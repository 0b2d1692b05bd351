"""The terminal API (docs/api.md). Each endpoint translates JSON to a core call and back."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

import fvh
from fvh.api import messages
from fvh.api.auth import HEADER as API_KEY_HEADER
from fvh.api.auth import KEY_REFUSED, SCOPE_REFUSED, check_key, current_actor, require_key
from fvh.api.errors import RETRY_AFTER_SECONDS, error
from fvh.core import idempotency, ledger, members, passwords, terminal, tokens
from fvh.core.errors import (
    Conflict,
    MemberNotFound,
    PermissionDenied,
    ValidationError,
)
from fvh.core.keys import SCOPE_ADMIN, SCOPE_TERMINAL
from fvh.core.money import cents_to_number
from fvh.db.models import Member
from fvh.http import access, observability
from fvh.http.context import app_config, db_session

bp = Blueprint("api", __name__)

# Control characters (C0, DEL, C1), as a regex class body that Python and ECMA-262 read alike:
# no name, address, password or description needs one, and PostgreSQL refuses NUL. The OpenAPI
# document states the same rule with it (fvh.api.openapi).
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
# JSON can also carry lone surrogates (`"\ud800"`), which no backend can store: a 400 too.
_REFUSED_CHARACTERS = re.compile(f"[{CONTROL_CHARACTERS}\ud800-\udfff]")


@bp.before_request
def _limit_body_size() -> None:
    request.max_content_length = app_config().api_max_body_bytes


# --- helpers ------------------------------------------------------------------------------


def _json_object() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        abort(400, "Der Inhalt muss ein JSON-Objekt sein.")
    return data


def _string_field(
    data: dict[str, Any], name: str, *, required: bool = True, max_length: int | None = None
) -> str | None:
    """A text field of the body; absent or null is None (a 400 when `required`).

    `max_length` counts the text as sent, before the core trims it: the limit the schema
    states as `maxLength`.
    """
    value = data.get(name)
    if value is None:
        if required:
            abort(400, f"Das Feld '{name}' fehlt.")
        return None
    if not isinstance(value, str):
        abort(400, f"Das Feld '{name}' muss ein Text sein.")
    if _REFUSED_CHARACTERS.search(value):
        abort(400, f"Das Feld '{name}' enthält ungültige Zeichen.")
    if max_length is not None and len(value) > max_length:
        abort(400, f"Das Feld '{name}' ist zu lang (höchstens {max_length} Zeichen).")
    return value


def _optional_field(data: dict[str, Any], name: str, max_length: int) -> str | None:
    """An optional text field: absent or null means none; given, it must not be blank
    (an empty `email` or `password` is refused, not read as "none")."""
    value = _string_field(data, name, required=False, max_length=max_length)
    if value is not None and not value.strip():
        abort(400, f"Das Feld '{name}' ist leer; ohne Angabe bitte weglassen.")
    return value


# Far beyond any real list, and within every backend's BIGINT (a larger OFFSET is a 500).
MAX_OFFSET = 1_000_000_000


def _query_number(name: str, default: int) -> int:
    """A query parameter given at most once, of ASCII digits only: `int()` would also take
    ` 5`, `+5`, `1_0` and other scripts' digits, which the schema's integer does not."""
    values = request.args.getlist(name)
    if len(values) > 1:
        abort(400, f"Der Parameter '{name}' darf nur einmal angegeben werden.")
    if not values:
        return default
    value = values[0]
    if not (value.isascii() and value.isdigit()):
        abort(400, "'limit' und 'offset' müssen ganze Zahlen sein.")
    try:
        return int(value)
    except ValueError:  # more digits than int() reads: far out of range anyway
        abort(400, f"Der Parameter '{name}' ist zu groß.")


def _page(default_limit: int | None = None) -> tuple[int, int]:
    config = app_config()
    limit = _query_number("limit", default_limit or config.api_list_limit)
    offset = _query_number("offset", 0)
    if not 1 <= limit <= config.api_list_max_limit or offset < 0:
        abort(
            400, f"'limit' muss zwischen 1 und {config.api_list_max_limit} liegen, 'offset' >= 0."
        )
    if offset > MAX_OFFSET:
        abort(400, f"'offset' darf höchstens {MAX_OFFSET} sein.")
    return limit, offset


def _paged(items: list[Any], total: int, limit: int, offset: int) -> ResponseReturnValue:
    response = jsonify(items)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Limit"] = str(limit)
    response.headers["X-Offset"] = str(offset)
    return response


def _member_by_code(session: Session, code: str) -> Member:
    try:
        return members.get_by_code(session, code)
    except ValidationError as exc:
        abort(400, exc.message)
    except MemberNotFound:
        abort(404, messages.unknown_code())


# --- health and metadata ------------------------------------------------------------------


@bp.get("/health")
@access.public
def health() -> ResponseReturnValue:
    return jsonify(message="FVH API läuft.")


@bp.get("/health-protected")
@require_key(SCOPE_TERMINAL)
def health_protected() -> ResponseReturnValue:
    db_session().execute(text("SELECT 1"))
    return jsonify(message="FVH API läuft, die Datenbank ist erreichbar.")


@bp.get("/version")
@require_key(SCOPE_TERMINAL)
def version() -> ResponseReturnValue:
    return jsonify(version=fvh.__version__)


# --- balances and people ------------------------------------------------------------------


@bp.get("/saldo-alle")
@require_key(SCOPE_TERMINAL)
def balances() -> ResponseReturnValue:
    session = db_session()
    # Terminals read this list whole and don't page: by default it is as long as allowed.
    limit, offset = _page(app_config().api_list_max_limit)
    total = session.scalar(select(func.count()).select_from(Member)) or 0
    rows = session.execute(
        select(Member.id, Member.last_name, Member.first_name, Member.balance_cents)
        .order_by(Member.balance_cents.desc(), Member.last_name, Member.first_name, Member.id)
        .limit(limit)
        .offset(offset)
    )
    items = [
        {
            "id": r.id,
            "nachname": r.last_name,
            "vorname": r.first_name,
            "saldo": cents_to_number(r.balance_cents),
        }
        for r in rows
    ]
    return _paged(items, total, limit, offset)


@bp.get("/person/<code>")
@require_key(SCOPE_TERMINAL)
def person(code: str) -> ResponseReturnValue:
    member = _member_by_code(db_session(), code)
    return jsonify(
        nachname=member.last_name,
        vorname=member.first_name,
        saldo=cents_to_number(member.balance_cents),
    )


@bp.get("/person/existent/<code>")
@require_key(SCOPE_TERMINAL)
def person_exists(code: str) -> ResponseReturnValue:
    member = _member_by_code(db_session(), code)
    return jsonify(nachname=member.last_name, vorname=member.first_name)


@bp.get("/users")
@require_key(SCOPE_ADMIN)
def users() -> ResponseReturnValue:
    limit, offset = _page()
    page = members.search(db_session(), limit=limit, offset=offset)
    items = [{"code": m.code, "nachname": m.last_name, "vorname": m.first_name} for m in page.rows]
    return _paged(items, page.total, limit, offset)


@bp.post("/person")
@require_key(SCOPE_ADMIN)
def create_person() -> ResponseReturnValue:
    data = _json_object()
    code = _string_field(data, "code")
    new = members.NewMember(
        code=code,
        last_name=_string_field(data, "nachname", max_length=members.MAX_NAME_LENGTH) or "",
        first_name=_string_field(data, "vorname", max_length=members.MAX_NAME_LENGTH) or "",
        password=_optional_field(data, "password", passwords.MAX_LENGTH),
        email=_optional_field(data, "email", members.MAX_NAME_LENGTH),
    )
    session = db_session()
    try:
        members.validate_code(code or "")
        member = members.create(session, new, current_actor())
    except ValidationError as exc:
        return error(exc.message, 400)
    except Conflict as exc:
        return error(exc.message, 409)
    session.commit()
    return jsonify(
        message=f"{member.full_name} wurde angelegt.",
        code=member.code,
        nachname=member.last_name,
        vorname=member.first_name,
    ), 201


@bp.delete("/person/<code>")
@require_key(SCOPE_ADMIN)
def delete_person(code: str) -> ResponseReturnValue:
    session = db_session()
    member = _member_by_code(session, code)
    name = member.full_name
    try:
        members.delete(session, member, current_actor())
    except Conflict as exc:
        return error(exc.message, 409)
    except PermissionDenied as exc:
        return error(exc.message, 409)
    session.commit()
    return jsonify(message=f"{name} wurde gelöscht.")


# --- journal ------------------------------------------------------------------------------


@bp.get("/transaktionen")
@require_key(SCOPE_ADMIN)
def transactions() -> ResponseReturnValue:
    limit, offset = _page()
    page = ledger.journal(db_session(), ledger.JournalFilter(), limit=limit, offset=offset)
    items = [
        {
            "id": t.id,
            "code": t.member.code,
            "nachname": t.member.last_name,
            "vorname": t.member.first_name,
            "beschreibung": t.description,
            "saldo_aenderung": cents_to_number(t.amount_cents),
            "timestamp": t.created_at.isoformat(timespec="seconds") + "Z",
            "storno_von": t.reverses_id,
        }
        for t in page.rows
    ]
    return _paged(items, page.total, limit, offset)


@bp.delete("/transaktionen")
@require_key(SCOPE_ADMIN)
def delete_all_transactions() -> ResponseReturnValue:
    session = db_session()
    count = ledger.delete_journal(session, current_actor())
    session.commit()
    return jsonify(message=f"{count} Buchungen gelöscht, alle Salden auf 0 gesetzt.", anzahl=count)


@bp.delete("/person/transaktionen/<code>")
@require_key(SCOPE_ADMIN)
def delete_member_transactions(code: str) -> ResponseReturnValue:
    session = db_session()
    member = _member_by_code(session, code)
    count = ledger.delete_journal(session, current_actor(), member)
    session.commit()
    return jsonify(
        message=f"{count} Buchungen von {member.full_name} gelöscht, Saldo auf 0 gesetzt.",
        anzahl=count,
    )


# --- bookings ---------------------------------------------------------------------------


@bp.put("/person/<code>/transaktion")
@access.mark(access.API_TERMINAL)
def book_by_code(code: str) -> ResponseReturnValue:
    return _tap(lambda _data: terminal.ByCode(members.validate_code(code)))


@bp.put("/nfc-transaktion")
@access.mark(access.API_TERMINAL)
def book_by_token() -> ResponseReturnValue:
    return _tap(lambda data: terminal.ByToken(tokens.parse_base64(data["token"])), "token")


def _tap(
    presented_in: Callable[[dict[str, Any]], terminal.Presented], required: str | None = None
) -> ResponseReturnValue:
    """A terminal booking: the request read once (the `required` field, the description,
    then what was presented), the tap booked and committed by the core, the outcome
    answered as the protocol says."""
    session = db_session()
    try:
        data = _json_object()
        if required is not None and data.get(required) is None:
            abort(400, f"Das Feld '{required}' fehlt.")
        description = _description(data)
        presented = presented_in(data)
        claim = _idempotency_claim()
    except (HTTPException, ValidationError) as exc:
        check_key()  # a bad key is answered 401 before anything about the request
        if isinstance(exc, ValidationError):
            abort(400, exc.message)
        raise
    result = terminal.tap(
        session,
        request.headers.get(API_KEY_HEADER),
        presented,
        description,
        claim,
        answer=lambda outcome: _answer(outcome, presented),
    )
    if isinstance(result.outcome, terminal.KeyRefused):
        abort(401, KEY_REFUSED)
    if isinstance(result.outcome, terminal.ScopeRefused):
        abort(403, SCOPE_REFUSED)
    body, status = _answer(result.outcome, presented)
    observability.booking_attempts(result.attempts)
    if not isinstance(result.outcome, terminal.Replayed | terminal.IdempotencyRefused):
        observability.booking_outcome(request.endpoint or "", status, body)
    response = jsonify(body)
    response.status_code = status
    if isinstance(result.outcome, terminal.NotBooked):
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _answer(outcome: terminal.Outcome, presented: terminal.Presented) -> tuple[Any, int]:
    """The contract's answer to each outcome of a tap, for both booking endpoints."""
    by_code = isinstance(presented, terminal.ByCode)
    match outcome:
        case terminal.Booked(first_name, amount, balance, system):
            text_ = messages.booked(first_name, amount, balance, system)
            body = {"message": text_, "saldo": cents_to_number(balance)}
            return ({**body, "vorname": first_name} if by_code else body), 200
        case terminal.Blocked(first_name, balance, system):
            text_ = messages.below_minimum(first_name, balance, system)
            return {"message": text_, "action": "block"}, 200
        case terminal.Locked(first_name) if by_code:
            return {"message": messages.locked(first_name), "action": "locked"}, 200
        case terminal.Locked(first_name):
            return {"error": messages.locked(first_name)}, 403
        case terminal.Unknown() if by_code:
            return {"error": messages.unknown_code()}, 404
        case terminal.Unknown():
            return {"error": messages.unknown_token()}, 404
        case terminal.Replayed(status, body):
            return body, status
        case terminal.IdempotencyRefused(message, in_progress):
            return {"error": message}, 409 if in_progress else 422
        case terminal.NotBooked():
            return {"error": messages.not_booked()}, 503
        case terminal.Unconfirmed():
            return {"error": messages.unconfirmed()}, 503
    raise AssertionError(f"no answer for {outcome!r}")


def _idempotency_claim() -> idempotency.Claim | None:
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return None
    key = idempotency.validate_key(header)
    fingerprint = idempotency.fingerprint(request.method, request.path, request.get_data())
    return idempotency.Claim(key, fingerprint)


def _description(data: dict[str, Any]) -> str:
    description = _string_field(data, "beschreibung") or ""
    if len(description) > ledger.MAX_DESCRIPTION_LENGTH:
        abort(400, "Das Feld 'beschreibung' ist zu lang.")
    return description
