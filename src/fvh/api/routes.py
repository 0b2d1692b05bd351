"""Endpoints of API-CONTRACT.md. Each translates JSON to a domain call and back, nothing more."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

import fvh
from fvh.api import messages
from fvh.api.auth import current_actor, read_along_result, require_key
from fvh.api.errors import error
from fvh.api.idempotent import Answer, answer_booking
from fvh.core import ledger, members, system_settings, tokens
from fvh.core.errors import (
    BelowMinimum,
    Conflict,
    MemberLocked,
    MemberNotFound,
    PermissionDenied,
    TokenNotFound,
    ValidationError,
)
from fvh.core.keys import SCOPE_ADMIN, SCOPE_TERMINAL
from fvh.core.money import cents_to_number
from fvh.db import engine as db
from fvh.db.models import Member, Transaction
from fvh.http import access
from fvh.http.context import app_config, db_session

bp = Blueprint("api", __name__)

# JSON can carry NUL and lone surrogates (`"\u0000"`, `"\ud800"`); PostgreSQL refuses NUL in
# text and no backend can store a surrogate, so they would end as a 500 instead of a 400.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@bp.before_request
def _limit_body_size() -> None:
    request.max_content_length = app_config().api_max_body_bytes


# --- helpers ------------------------------------------------------------------------------


def _json_object() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        abort(400, "Der Inhalt muss ein JSON-Objekt sein.")
    return data


def _string_field(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            abort(400, f"Das Feld '{name}' fehlt.")
        return None
    if not isinstance(value, str):
        abort(400, f"Das Feld '{name}' muss ein Text sein.")
    if _UNSTORABLE.search(value):
        abort(400, f"Das Feld '{name}' enthält ungültige Zeichen.")
    return value


def _page(default_limit: int | None = None) -> tuple[int, int]:
    config = app_config()
    try:
        limit = int(request.args.get("limit", default_limit or config.api_list_limit))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        abort(400, "'limit' und 'offset' müssen ganze Zahlen sein.")
    if not 1 <= limit <= config.api_list_max_limit or offset < 0:
        abort(
            400, f"'limit' muss zwischen 1 und {config.api_list_max_limit} liegen, 'offset' >= 0."
        )
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
@require_key(SCOPE_TERMINAL, keep_reading=True)
def health_protected() -> ResponseReturnValue:
    db_session().execute(text("SELECT 1"))
    return jsonify(message="FVH API läuft, die Datenbank ist erreichbar.")


@bp.get("/version")
@require_key(SCOPE_TERMINAL, keep_reading=True)
def version() -> ResponseReturnValue:
    return jsonify(version=fvh.__version__)


# --- balances and people ------------------------------------------------------------------


@bp.get("/saldo-alle")
@require_key(SCOPE_TERMINAL, keep_reading=True)
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
@require_key(SCOPE_TERMINAL, keep_reading=True)
def person(code: str) -> ResponseReturnValue:
    member = _member_by_code(db_session(), code)
    return jsonify(
        nachname=member.last_name,
        vorname=member.first_name,
        saldo=cents_to_number(member.balance_cents),
    )


@bp.get("/person/existent/<code>")
@require_key(SCOPE_TERMINAL, keep_reading=True)
def person_exists(code: str) -> ResponseReturnValue:
    member = _member_by_code(db_session(), code)
    return jsonify(nachname=member.last_name, vorname=member.first_name)


@bp.get("/users")
@require_key(SCOPE_ADMIN, keep_reading=True)
def users() -> ResponseReturnValue:
    session = db_session()
    limit, offset = _page()
    total = session.scalar(select(func.count()).select_from(Member)) or 0
    items = [
        {"code": m.code, "nachname": m.last_name, "vorname": m.first_name}
        for m in members.list_all(session, limit=limit, offset=offset)
    ]
    return _paged(items, total, limit, offset)


@bp.post("/person")
@require_key(SCOPE_ADMIN)
def create_person() -> ResponseReturnValue:
    data = _json_object()
    code = _string_field(data, "code")
    new = members.NewMember(
        code=code,
        last_name=_string_field(data, "nachname") or "",
        first_name=_string_field(data, "vorname") or "",
        password=_string_field(data, "password", required=False),
        email=_string_field(data, "email", required=False),
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
@require_key(SCOPE_ADMIN, keep_reading=True)
def transactions() -> ResponseReturnValue:
    session = db_session()
    limit, offset = _page()
    total = session.scalar(select(func.count()).select_from(Transaction)) or 0
    rows = session.execute(
        select(Transaction, Member.code, Member.last_name, Member.first_name)
        .join(Member, Member.id == Transaction.member_id)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [
        {
            "id": t.id,
            "code": code,
            "nachname": last,
            "vorname": first,
            "beschreibung": t.description,
            "saldo_aenderung": cents_to_number(t.amount_cents),
            "timestamp": t.created_at.isoformat(timespec="seconds") + "Z",
            "storno_von": t.reverses_id,
        }
        for t, code, last, first in rows
    ]
    return _paged(items, total, limit, offset)


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


# --- bookings -----------------------------------------------------------------------------


def _card_lookup(code: str) -> db.Lookup[Any] | None:
    """What a tap by code reads first, read along with its key (a code that can't be one:
    nothing, and the view says why)."""
    try:
        members.validate_code(code)
    except ValidationError:
        return None
    return members.card_lookup(code)


@bp.put("/person/<code>/transaktion")
@require_key(SCOPE_TERMINAL, keep_reading=True, read_along=_card_lookup)
def book_by_code(code: str) -> ResponseReturnValue:
    data = _json_object()
    description = _description(data)
    try:
        members.validate_code(code)
    except ValidationError as exc:
        abort(400, exc.message)
    # Read with the key, in its read transaction: what the booking needs, beside other
    # writers; the write lock (SQLite) is taken only for the booking itself.
    session = db_session()
    found = read_along_result(members.card_lookup(code))
    db.end_read(session)

    def compute(session: Session) -> Answer:
        if found is None:
            return {"error": messages.unknown_code()}, 404
        member, system = found
        try:
            booking = ledger.debit_at_terminal(
                session, member, description, current_actor(), system
            )
        except MemberNotFound:  # deleted since it was read
            return {"error": messages.unknown_code()}, 404
        except MemberLocked as exc:
            return {"message": messages.locked(exc.first_name), "action": "locked"}, 200
        except BelowMinimum as exc:
            text_ = messages.below_minimum(exc.first_name, exc.balance_cents, system)
            return {"message": text_, "action": "block"}, 200
        return {**_booked(member.first_name, booking, system), "vorname": member.first_name}, 200

    return answer_booking(session, compute)


def _token_lookup() -> db.Lookup[Any] | None:
    """What a tap by token reads first, read along with its key; nothing for a body that
    names no valid token (the view reports it, after the key was checked on its own)."""
    try:
        data = request.get_json(force=True, silent=True)
    except HTTPException:  # too large: answered once the key is known
        return None
    raw_token = data.get("token") if isinstance(data, dict) else None
    try:
        return tokens.owner_lookup(tokens.parse_base64(raw_token))
    except ValidationError:
        return None


@bp.put("/nfc-transaktion")
@require_key(SCOPE_TERMINAL, keep_reading=True, read_along=_token_lookup)
def book_by_token() -> ResponseReturnValue:
    data = _json_object()
    raw_token = data.get("token")
    if raw_token is None:
        abort(400, "Das Feld 'token' fehlt.")
    description = _description(data)
    try:
        token_bytes = tokens.parse_base64(raw_token)
    except ValidationError as exc:
        abort(400, exc.message)
    session = db_session()  # still reading, as above
    found = read_along_result(tokens.owner_lookup(token_bytes))
    db.end_read(session)

    def compute(session: Session) -> Answer:
        if found is not None:
            token, system = found
            try:
                booking = ledger.debit_at_terminal(
                    session,
                    token.member,
                    description,
                    current_actor(),
                    system,
                    token_id=token.token_id,
                )
            except MemberLocked as exc:
                return {"error": messages.locked(exc.first_name)}, 403
            except BelowMinimum as exc:
                text_ = messages.below_minimum(exc.first_name, exc.balance_cents, system)
                return {"message": text_, "action": "block"}, 200
            except (TokenNotFound, MemberNotFound):  # removed since it was read: unknown now
                pass
            else:
                tokens.note_use(session, token)
                return _booked(token.member.first_name, booking, system), 200
        tokens.record_unknown_scan(session, token_bytes, description)
        return {"error": messages.unknown_token()}, 404

    return answer_booking(session, compute)


def _description(data: dict[str, Any]) -> str:
    description = _string_field(data, "beschreibung") or ""
    if len(description) > ledger.MAX_DESCRIPTION_LENGTH:
        abort(400, "Das Feld 'beschreibung' ist zu lang.")
    return description


def _booked(
    first_name: str, booking: ledger.Booking, system: system_settings.SystemSettings
) -> dict[str, Any]:
    return {
        "message": messages.booked(first_name, booking.amount_cents, booking.balance_cents, system),
        "saldo": cents_to_number(booking.balance_cents),
    }
