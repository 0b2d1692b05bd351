"""NFC tokens: raw bytes (1..32) that terminals send base64-encoded and admins type as hex."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload

from fvh import db
from fvh.core import audit, last_used, members, notify, system_settings
from fvh.core.errors import N_, DuplicateToken, TokenNotFound, ValidationError
from fvh.core.names import validate_name
from fvh.db.models import Member, Token, UnknownTokenScan, utcnow

MAX_TOKEN_BYTES = 32
_NAME_TOO_LONG = N_("Der Name ist zu lang (höchstens 255 Zeichen).")
_HEX_SEPARATORS = re.compile(r"[\s:\-]")


def _check_length(data: bytes, field: str) -> bytes:
    if not 1 <= len(data) <= MAX_TOKEN_BYTES:
        raise ValidationError(
            N_("Ein Token hat 1 bis %(max)d Bytes, nicht %(length)d."),
            field,
            max=MAX_TOKEN_BYTES,
            length=len(data),
        )
    return data


def parse_hex(text: str) -> bytes:
    """Hex as admins type it: case, spaces, colons and dashes do not matter."""
    cleaned = _HEX_SEPARATORS.sub("", text or "")
    if len(cleaned) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", cleaned):
        raise ValidationError(N_("Keine gültige Hex-Eingabe (z. B. 04:A2:2B:1C)."), "token")
    return _check_length(bytes.fromhex(cleaned), "token")


def parse_base64(text: object) -> bytes:
    """Base64 as terminals send it (standard alphabet, padding required), in its one
    canonical spelling: the decoder alone also takes `AAAA=` or unused bits set (`BB==`),
    which the API's schema could not state as a pattern."""
    if not isinstance(text, str):
        raise ValidationError(N_("Das Feld 'token' muss ein Base64-Text sein."), "token")
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(N_("Das Feld 'token' ist kein gültiges Base64."), "token") from exc
    if base64.b64encode(data).decode("ascii") != text.strip():
        raise ValidationError(N_("Das Feld 'token' ist kein gültiges Base64."), "token")
    return _check_length(data, "token")


def to_hex(data: bytes) -> str:
    """Display form, e.g. `04:A2:2B:1C`."""
    return ":".join(f"{b:02X}" for b in data)


def find(session: Session, data: bytes) -> Token | None:
    """The token with these bytes, its member loaded in the same query."""
    return session.scalar(select(Token).options(joinedload(Token.member)).where(Token.data == data))


@dataclass(frozen=True)
class TokenOwner:
    """A token as a tap needs it: its id, when it was last used, and its account holder."""

    token_id: int
    last_used_at: datetime | None
    member: members.AccountHolder


_TOKENS = Token.__table__
_OWNER_AND_SETTINGS = (
    select(_TOKENS.c.id, _TOKENS.c.last_used_at, *members.HOLDER_COLUMNS, system_settings.COLUMN)
    .join_from(_TOKENS, Member.__table__, Member.__table__.c.id == _TOKENS.c.member_id)
    .where(_TOKENS.c.data == bindparam("data"))
)


def owner_lookup(data: bytes) -> db.Lookup[tuple[TokenOwner, system_settings.SystemSettings]]:
    """The token with these bytes, its member and the system settings: what a tap needs, in
    one plain query (one round trip)."""
    return db.Lookup(_OWNER_AND_SETTINGS, {"data": data}, _owner_and_settings)


def _owner_and_settings(
    row: Sequence[Any],
) -> tuple[TokenOwner, system_settings.SystemSettings]:
    token = TokenOwner(row[0], row[1], members.AccountHolder(*row[2:-1]))
    return token, system_settings.from_column(row[-1])


def get(session: Session, token_id: int) -> Token:
    token = session.get(Token, token_id)
    if token is None:
        raise TokenNotFound(f"unknown token {token_id}")
    return token


def add(session: Session, member: Member, data: bytes, name: str, actor: audit.Actor) -> Token:
    """Assign a token to a member; a token someone already owns is refused, naming the owner."""
    existing = find(session, data)
    if existing is not None:
        owner = existing.member
        raise DuplicateToken(
            N_("Der Token %(token)s gehört bereits %(owner)s (%(code)s)."),
            owner.full_name,
            token=to_hex(data),
            owner=owner.full_name,
            code=owner.code,
        )
    name = validate_name(name, "name", too_long=_NAME_TOO_LONG)
    token = Token(member_id=member.id, data=data, name=name)
    session.add(token)
    # An assigned token is no longer unknown.
    scan = session.scalar(select(UnknownTokenScan).where(UnknownTokenScan.data == data))
    if scan is not None:
        session.delete(scan)
    session.flush()
    audit.record(
        session, actor, "token.add", member.code, after={"token": to_hex(data), "name": name}
    )
    return token


def remove(session: Session, token: Token, actor: audit.Actor) -> None:
    audit.record(
        session,
        actor,
        "token.delete",
        token.member.code,
        before={"token": to_hex(token.data), "name": token.name},
    )
    session.delete(token)
    session.flush()


def note_use(session: Session, token: TokenOwner) -> None:
    """Set the token's `last_used_at`, at most once a minute (in the booking's transaction)."""
    if last_used.due(token.last_used_at):
        last_used.note(session, _TOKENS, token.token_id)


def record_unknown_scan(session: Session, data: bytes, terminal: str) -> UnknownTokenScan:
    """Remember a token that no member owns, so an admin can assign it with one click."""
    now = utcnow()
    query = select(UnknownTokenScan).where(UnknownTokenScan.data == data)
    scan = session.scalar(query)
    if scan is None:
        new = UnknownTokenScan(
            data=data,
            first_seen_at=now,
            last_seen_at=now,
            scan_count=1,
            last_terminal=terminal[:255],
        )
        try:
            with session.begin_nested():
                session.add(new)
            notify.unknown_token(session, new, to_hex(data))
            return new
        except IntegrityError:  # a concurrent scan of the same token inserted it first
            scan = session.scalars(query).one()
    scan.last_seen_at = now
    scan.scan_count += 1
    scan.last_terminal = terminal[:255]
    notify.unknown_token(session, scan, to_hex(data))
    session.flush()
    return scan


def unknown_scans(session: Session, limit: int = 20) -> list[UnknownTokenScan]:
    """Tokens terminals presented that nobody owns, most recently seen first."""
    query = select(UnknownTokenScan).order_by(UnknownTokenScan.last_seen_at.desc()).limit(limit)
    return list(session.scalars(query))


def count_unknown_scans(session: Session) -> int:
    """How many tokens terminals presented that nobody owns."""
    return session.scalar(select(func.count()).select_from(UnknownTokenScan)) or 0


def get_unknown_scan(session: Session, scan_id: int) -> UnknownTokenScan:
    scan = session.get(UnknownTokenScan, scan_id)
    if scan is None:
        raise TokenNotFound(f"unknown scan {scan_id}")
    return scan


def dismiss_unknown_scan(session: Session, scan: UnknownTokenScan) -> None:
    """Forget an unknown scan (e.g. a card that will never be assigned)."""
    session.delete(scan)
    session.flush()


def rename(session: Session, token: Token, name: str, actor: audit.Actor) -> Token:
    """Change a token's name (what it is: key fob, phone, ...); the audit log keeps both."""
    name = validate_name(name, "name", too_long=_NAME_TOO_LONG)
    if name == token.name:
        return token
    before = token.name
    token.name = name
    session.flush()
    audit.record(
        session,
        actor,
        "token.rename",
        token.member.code,
        before={"token": to_hex(token.data), "name": before},
        after={"token": to_hex(token.data), "name": name},
    )
    return token


@dataclass(frozen=True)
class TokenPage:
    rows: list[Token]
    total: int


def list_assigned(session: Session, *, limit: int = 50, offset: int = 0) -> TokenPage:
    """Every member's tokens, by owner in the German order of names, the owner loaded in
    the same query."""
    total = session.scalar(select(func.count()).select_from(Token)) or 0
    query = (
        select(Token)
        .join(Token.member)
        .options(contains_eager(Token.member))
        .order_by(Member.sort_key, Member.id, Token.id)
        .limit(limit)
        .offset(offset)
    )
    return TokenPage(list(session.scalars(query)), total)
