"""Members: codes, names, passwords, lock and admin flags."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, event, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapper, Session

from fvh import db
from fvh.core import audit, names, passwords, system_settings
from fvh.core.errors import (
    N_,
    DuplicateCode,
    DuplicateEmail,
    MemberNotFound,
    PermissionDenied,
    ValidationError,
)
from fvh.db.models import Member, Token

CODE_LENGTH = 10
BOOTSTRAP_ADMIN_CODE = "9999999999"
MAX_NAME_LENGTH = names.MAX_LENGTH
# The policy is `fvh.core.passwords`; these names stay for the API's schema and the startup check.
_CODE_RE = re.compile(r"[0-9]{10}")  # ASCII digits only: \d would admit other scripts
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate_code(code: str) -> str:
    """A member code is exactly ten digits (the QR terminals read code + one letter)."""
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        raise ValidationError(N_("Der Code muss aus genau 10 Ziffern bestehen."), "code")
    return code


# Per name field: the message when it is missing and when it is too long.
_NAME_MESSAGES = {
    "first_name": (
        N_("Vorname fehlt."),
        N_("Vorname ist zu lang (höchstens %(max)d Zeichen)."),
    ),
    "last_name": (
        N_("Nachname fehlt."),
        N_("Nachname ist zu lang (höchstens %(max)d Zeichen)."),
    ),
}


def _validate_name(value: object, field: str) -> str:
    """A first or last name by the one name rule, refused in that field's own words."""
    missing, too_long = _NAME_MESSAGES[field]
    return names.validate_name(value, field, missing=missing, too_long=too_long)


def normalize_email(email: str | None) -> str | None:
    """Empty means no address; otherwise a plausible address, stored in lower case."""
    if email is None or not email.strip():
        return None
    email = email.strip().lower()
    if len(email) > MAX_NAME_LENGTH or not _EMAIL_RE.match(email):
        raise ValidationError(N_("Keine gültige E-Mail-Adresse."), "email")
    return email


# The fields the stored search and sort keys are made of.
_KEY_SOURCES = ("first_name", "last_name", "email", "comment")


def refresh_keys(member: Member) -> None:
    """Set the member's search and sort keys from their names, e-mail and comment."""
    member.search_key = names.search_key(
        member.first_name, member.last_name, member.email, member.comment
    )
    member.sort_key = names.sort_key(member.last_name, member.first_name)


@event.listens_for(Member, "before_insert")
def _keys_for_new_member(_mapper: Mapper[Member], _connection: object, member: Member) -> None:
    refresh_keys(member)


@event.listens_for(Member, "before_update")
def _keys_for_changed_member(_mapper: Mapper[Member], _connection: object, member: Member) -> None:
    """Whoever changes a name, the address or the comment (a form, the API, the e-mail
    confirmation, the importer), the keys follow in the same UPDATE."""
    state = sa_inspect(member)
    if any(state.attrs[name].history.has_changes() for name in _KEY_SOURCES):
        refresh_keys(member)


def check_password(member: Member, password: str, method: str | None = None) -> bool:
    """Verify a member's password; a hash made with weaker or other parameters than `method`
    (default: the configured one) is replaced on success."""
    if not passwords.verify(member.password_hash, password):
        return False
    if passwords.needs_rehash(member.password_hash or "", method):
        member.password_hash = passwords.hash_password(password, method)
    return True


def generate_code(session: Session) -> str:
    """A random, unused ten-digit code."""
    while True:
        code = f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"
        if session.scalar(select(Member.id).where(Member.code == code)) is None:
            return code


def get_by_code(session: Session, code: str) -> Member:
    member = session.scalar(select(Member).where(Member.code == validate_code(code)))
    if member is None:
        raise MemberNotFound(f"unknown code {code}")
    return member


@dataclass(frozen=True)
class AccountHolder:
    """What a booking needs to know of its member: who it is and which mails they want.

    Read with one plain query on the terminals' hot path instead of loading a `Member`.
    """

    id: int
    code: str
    first_name: str
    last_name: str
    email: str | None
    notify_bookings: bool
    notify_zero: bool
    notify_low_balance: bool
    low_balance_threshold_cents: int | None


HOLDER_COLUMNS = tuple(Member.__table__.c[f.name] for f in fields(AccountHolder))
_HOLDER_BY_ID = select(*HOLDER_COLUMNS).where(Member.__table__.c.id == bindparam("member_id"))
_HOLDER_BY_CODE = select(*HOLDER_COLUMNS).where(Member.__table__.c.code == bindparam("code"))
_HOLDER_AND_SETTINGS_BY_CODE = _HOLDER_BY_CODE.add_columns(system_settings.COLUMN)


def holder_lookup(code: str) -> db.Lookup[tuple[AccountHolder, system_settings.SystemSettings]]:
    """The member with this code as a booking needs them, and the system settings, in one
    round trip (a tap by QR code)."""
    return db.Lookup(_HOLDER_AND_SETTINGS_BY_CODE, {"code": code}, _holder_and_settings)


def _holder_and_settings(
    row: Sequence[Any],
) -> tuple[AccountHolder, system_settings.SystemSettings]:
    return AccountHolder(*row[:-1]), system_settings.from_column(row[-1])


def holder(
    session: Session, *, member_id: int | None = None, code: str | None = None
) -> AccountHolder | None:
    """The member with this id or code as a booking needs them; None when there is none."""
    if member_id is not None:
        result = session.connection().execute(_HOLDER_BY_ID, {"member_id": member_id})
    else:
        result = session.connection().execute(_HOLDER_BY_CODE, {"code": code})
    row = result.one_or_none()
    return AccountHolder(*row) if row is not None else None


def get(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise MemberNotFound(f"unknown member {member_id}")
    return member


def snapshot(member: Member) -> dict[str, object]:
    """The audited view of a member (never the password hash)."""
    return {
        "code": member.code,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "comment": member.comment,
        "locked": member.locked,
        "is_admin": member.is_admin,
        "min_balance_cents": member.min_balance_cents,
        "balance_cents": member.balance_cents,
    }


@dataclass(frozen=True)
class NewMember:
    first_name: str
    last_name: str
    code: str | None = None
    email: str | None = None
    password: str | None = None
    comment: str = ""
    is_admin: bool = False
    locked: bool = False
    min_balance_cents: int | None = None
    must_change_password: bool = False


def create(
    session: Session,
    data: NewMember,
    actor: audit.Actor,
) -> Member:
    """Register a member; the code is generated when none is given."""
    code = validate_code(data.code) if data.code else generate_code(session)
    member = Member(
        code=code,
        first_name=_validate_name(data.first_name, "first_name"),
        last_name=_validate_name(data.last_name, "last_name"),
        email=normalize_email(data.email),
        comment=(data.comment or "").strip()[:1000],
        is_admin=data.is_admin,
        locked=data.locked,
        min_balance_cents=data.min_balance_cents,
        must_change_password=data.must_change_password,
        balance_cents=0,
        session_version=1,
    )
    if data.password:
        member.password_hash = passwords.hash_password(passwords.validate(data.password))
    _ensure_unique(session, member)
    session.add(member)
    _flush_unique(session, member)
    audit.record(session, actor, "member.create", code, after=snapshot(member))
    return member


def _ensure_unique(session: Session, member: Member) -> None:
    clash = select(Member.id).where(Member.id != member.id) if member.id else select(Member.id)
    if session.scalar(clash.where(Member.code == member.code)) is not None:
        raise DuplicateCode(N_("Der Code %(code)s ist bereits vergeben."), code=member.code)
    if member.email and session.scalar(clash.where(Member.email == member.email)) is not None:
        raise DuplicateEmail(
            N_("Die E-Mail-Adresse %(email)s ist bereits vergeben."), email=member.email
        )


def _flush_unique(session: Session, member: Member) -> None:
    """Flush, turning a unique-index race lost to a concurrent writer into a domain error."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise DuplicateCode(N_("Code oder E-Mail-Adresse ist bereits vergeben.")) from exc


def set_locked(session: Session, member: Member, locked: bool, actor: audit.Actor) -> None:
    if locked and actor.member_id == member.id:
        raise PermissionDenied(N_("Sie können sich nicht selbst sperren."))
    if member.locked == locked:
        return
    before = snapshot(member)
    member.locked = locked
    if locked:
        member.session_version += 1
    else:
        member.approval_pending = False  # unlocking a self-registration approves it
    audit.record(
        session,
        actor,
        "member.lock" if locked else "member.unlock",
        member.code,
        before=before,
        after=snapshot(member),
    )
    session.flush()


def set_password(
    session: Session,
    member: Member,
    password: str,
    actor: audit.Actor,
    *,
    must_change: bool = False,
) -> None:
    """Set a new password; every other session of the member ends."""
    member.password_hash = passwords.hash_password(passwords.validate(password))
    member.must_change_password = must_change
    member.session_version += 1
    audit.record(session, actor, "member.password", member.code)
    session.flush()


def delete(session: Session, member: Member, actor: audit.Actor) -> None:
    """Delete a member with their tokens and journal (as the seed says); the audit log keeps it."""
    if actor.member_id == member.id:
        raise PermissionDenied(N_("Sie können sich nicht selbst löschen."))
    if member.is_admin and count_admins(session) <= 1:
        raise PermissionDenied(N_("Der letzte Administrator kann nicht gelöscht werden."))
    audit.record(session, actor, "member.delete", member.code, before=snapshot(member))
    session.delete(member)
    session.flush()


def count_admins(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Member).where(Member.is_admin.is_(True)))
        or 0
    )


def list_all(session: Session, *, limit: int | None = None, offset: int = 0) -> list[Member]:
    """Every member in the German order of their names (the CLI's list)."""
    query = select(Member).order_by(Member.sort_key, Member.id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(session.scalars(query))


def ensure_bootstrap_admin(session: Session) -> str | None:
    """On an empty database create admin 9999999999 with a random one-time password.

    Returns that password (to be shown once) or None when members already exist.
    """
    if session.scalar(select(func.count()).select_from(Member)):
        return None
    password = secrets.token_urlsafe(12)
    create(
        session,
        NewMember(
            code=BOOTSTRAP_ADMIN_CODE,
            first_name="Admin",
            last_name="FVH",
            password=password,
            is_admin=True,
            must_change_password=True,
        ),
        audit.Actor.system(),
    )
    return password


# The member list's orders. "name" is the German order of the sort key (fvh.core.names).
MEMBER_SORTS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "code": (Member.code,),
    "name": (Member.sort_key,),
    "email": (Member.email,),
    "balance": (Member.balance_cents,),
}
# Last, then first name as the database compares them: the order the API documents for its
# member list (docs/api.md), which terminals may rely on; people's lists use "name".
STORED_NAME_ORDER = (Member.last_name, Member.first_name)
# Hex of a token as admins type it (04:A2:2B:1C, 04a22b1c), at least two bytes.
_TOKEN_HEX_RE = re.compile(r"[0-9a-fA-F]{2}(?:[\s:-]?[0-9a-fA-F]{2})+")


@dataclass(frozen=True)
class MemberPage:
    rows: list[Member]
    total: int


def matching(text: str) -> ColumnElement[bool] | None:
    """Members that `text` finds, or None for an empty search.

    Every word must occur in the member's names, e-mail address or comment, ignoring case
    and accents ("oz", "Öz" and "ÖZTÜRK" find Öztürk); digits also find by code, and a
    token's hex finds its owner.
    """
    text = text.strip()
    alternatives: list[ColumnElement[bool]] = []
    words = names.search_words(text)
    if words:
        alternatives.append(
            and_(*(Member.search_key.contains(word, autoescape=True) for word in words))
        )
    if text.isascii() and text.isdigit():
        alternatives.append(Member.code.contains(text, autoescape=True))
    if _TOKEN_HEX_RE.fullmatch(text):
        data = bytes.fromhex(re.sub(r"[\s:-]", "", text))
        alternatives.append(Member.id.in_(select(Token.member_id).where(Token.data == data)))
    return or_(*alternatives) if alternatives else None


def search(
    session: Session,
    text: str = "",
    *,
    sort: str | None = None,
    descending: bool = False,
    only_in_debt: bool = False,
    limit: int | None = 50,
    offset: int = 0,
) -> MemberPage:
    """Members that `text` finds (see `matching`), sorted and paged.

    `sort` is a key of MEMBER_SORTS; None keeps STORED_NAME_ORDER, the API's order.
    """
    conditions = []
    found = matching(text)
    if found is not None:
        conditions.append(found)
    if only_in_debt:
        conditions.append(Member.balance_cents < 0)
    total = session.scalar(select(func.count()).select_from(Member).where(*conditions)) or 0
    columns = STORED_NAME_ORDER if sort is None else MEMBER_SORTS.get(sort, MEMBER_SORTS["name"])
    order = [c.desc() if descending else c.asc() for c in columns]
    query = select(Member).where(*conditions).order_by(*order, Member.id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return MemberPage(list(session.scalars(query)), total)


def same_name(
    session: Session, first_name: str, last_name: str, *, except_id: int | None = None
) -> list[Member]:
    """Members whose first and last name are these by the sort rule (case and accents
    aside): a second "Anna Müller" is allowed, but the admin is asked first."""
    prefix = names.same_name_prefix(last_name, first_name)
    query = select(Member).where(Member.sort_key.startswith(prefix, autoescape=True))
    if except_id is not None:
        query = query.where(Member.id != except_id)
    return list(session.scalars(query.order_by(Member.sort_key, Member.id)))


@dataclass(frozen=True)
class Totals:
    members: int
    balance_cents: int
    in_debt: int


def totals(session: Session) -> Totals:
    """How many members, the sum of all balances, how many are below zero."""
    count, balance, in_debt = session.execute(
        select(
            func.count(Member.id),
            func.coalesce(func.sum(Member.balance_cents), 0),
            func.coalesce(func.sum(case((Member.balance_cents < 0, 1), else_=0)), 0),
        )
    ).one()
    return Totals(int(count), int(balance), int(in_debt))


@dataclass(frozen=True)
class MemberChanges:
    first_name: str
    last_name: str
    email: str | None
    comment: str
    min_balance_cents: int | None


def update_details(
    session: Session, member: Member, changes: MemberChanges, actor: audit.Actor
) -> None:
    """Change names, e-mail, comment and own minimum; validated like `create`, audited."""
    before = snapshot(member)
    first_name = _validate_name(changes.first_name, "first_name")
    last_name = _validate_name(changes.last_name, "last_name")
    email = normalize_email(changes.email)
    if email and session.scalar(
        select(Member.id).where(Member.email == email, Member.id != member.id)
    ):
        raise DuplicateEmail(N_("Die E-Mail-Adresse %(email)s ist bereits vergeben."), email=email)
    member.first_name = first_name
    member.last_name = last_name
    member.email = email
    member.comment = (changes.comment or "").strip()[:1000]
    member.min_balance_cents = changes.min_balance_cents
    _flush_unique(session, member)
    after = snapshot(member)
    if after != before:
        audit.record(session, actor, "member.update", member.code, before=before, after=after)


def set_admin(session: Session, member: Member, is_admin: bool, actor: audit.Actor) -> None:
    """Grant or revoke admin rights; nobody demotes themself, the last admin stays."""
    if member.is_admin == is_admin:
        return
    if not is_admin:
        if actor.member_id == member.id:
            raise PermissionDenied(N_("Sie können sich nicht selbst die Admin-Rechte entziehen."))
        if count_admins(session) <= 1:
            raise PermissionDenied(N_("Der letzte Administrator kann nicht entfernt werden."))
    before = snapshot(member)
    member.is_admin = is_admin
    audit.record(
        session,
        actor,
        "member.grant_admin" if is_admin else "member.revoke_admin",
        member.code,
        before=before,
        after=snapshot(member),
    )
    session.flush()
