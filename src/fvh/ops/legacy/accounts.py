"""Legacy users as FVH members: matched by code, created once, never modified afterwards.

A password hash werkzeug can verify is kept as it is (a login then rehashes it); newly
created members also get their notification opt-ins and own thresholds where FVH has them.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from fvh.core import members, passwords
from fvh.core.errors import DuplicateCode, DuplicateEmail, ValidationError
from fvh.db.models import Member
from fvh.ops.legacy import source
from fvh.ops.legacy.run import ACTOR, ImportRun
from fvh.ops.legacy.values import as_text, cents

LEGACY_DEFAULT_PASSWORD = "changeme"  # noqa: S105 - the original's well-known default
LEGACY_DEFAULT_ADMINS = ("9876543210", "9999999999")
# Legacy notification types and the member flag each one maps to (when FVH has it).
NOTIFICATION_FLAGS = {
    "NEUE_TRANSAKTION": "notify_bookings",
    "SALDO_NULL": "notify_zero",
    "THRESHOLD_REMINDER": "notify_low_balance",
}
_CODE_RE = re.compile(r"^\d{10}$")
# werkzeug's `method$salt$hash` for the methods it still verifies.
_HASH_RE = re.compile(r"^(scrypt|pbkdf2)(:[\w]+)*\$[^$]+\$[0-9a-f]+$")


def import_member(run: ImportRun, user: dict[str, Any]) -> None:
    """One legacy user: mapped to the FVH member with its code, or created as a new one."""
    code = as_text(user["code"]).strip()
    label = f"legacy user {user['id']} ({code or 'no code'})"
    if not _CODE_RE.match(code):
        run.leave_out(
            "members", f"{label}: the code is not 10 digits; skipped with tokens and journal."
        )
        return
    existing = run.session.scalar(select(Member).where(Member.code == code))
    if existing is not None:
        run.member_ids[user["id"]] = existing.id
        run.count("members").present += 1
        return
    email = _usable_email(run, label, as_text(user.get("email")))
    first_name = as_text(user.get("vorname")).strip()
    last_name = as_text(user.get("nachname")).strip()
    if not first_name or not last_name:
        run.warn(f"{label}: first or last name is empty; imported as '?'.")
    try:
        member = members.create(
            run.session,
            members.NewMember(
                code=code,
                first_name=first_name or "?",
                last_name=last_name or "?",
                email=email,
                comment=as_text(user.get("kommentar")),
                is_admin=bool(user.get("is_admin")),
                locked=bool(user.get("is_locked")),
            ),
            ACTOR,
        )
    except (ValidationError, DuplicateCode, DuplicateEmail) as exc:
        run.leave_out("members", f"{label}: {exc.message} Skipped with tokens and journal.")
        return
    member.password_hash = _usable_hash(run, label, as_text(user.get("password")))
    run.member_ids[user["id"]] = member.id
    run.new_members[user["id"]] = member
    run.count("members").imported += 1
    _flag_default_password(run, code, member)


def _flag_default_password(run: ImportRun, code: str, member: Member) -> None:
    """The original's default admins with the well-known password must change it at login."""
    if (
        code in LEGACY_DEFAULT_ADMINS
        and member.is_admin
        and member.password_hash
        and passwords.verify(member.password_hash, LEGACY_DEFAULT_PASSWORD)
    ):
        member.must_change_password = True
        run.warn(f"admin {code} still has the default password; it must be changed at login.")


def _usable_hash(run: ImportRun, label: str, password_hash: str) -> str | None:
    """The legacy hash, kept as it is when werkzeug can verify it (scrypt or pbkdf2); a
    successful login then rehashes it with FVH's method (members.check_password)."""
    if not password_hash:
        return None
    if _HASH_RE.match(password_hash):
        return password_hash
    run.warn(f"{label}: the password is not a werkzeug hash; imported without password.")
    return None


def _usable_email(run: ImportRun, label: str, raw: str) -> str | None:
    """The legacy address if FVH accepts it and nobody has it; else none, with a warning."""
    try:
        email = members.normalize_email(raw)
    except ValidationError:
        run.warn(f"{label}: e-mail {raw!r} is not valid; imported without e-mail.")
        return None
    if email and run.session.scalar(select(Member.id).where(Member.email == email)):
        run.warn(f"{label}: e-mail {email} is already used; imported without e-mail.")
        return None
    return email


def import_notifications(run: ImportRun, users: list[dict[str, Any]]) -> None:
    """Opt-ins and own thresholds of newly imported members, where FVH has the fields."""
    has_flags = all(hasattr(Member, f) for f in NOTIFICATION_FLAGS.values())
    optins: list[dict[str, Any]] = []
    if {"benutzer_benachrichtigungseinstellungen", "benachrichtigungstypen"} <= run.tables:
        optins = source.notification_optins(run.legacy)
    if not has_flags:
        if optins:
            run.report.not_imported.append(
                f"{len(optins)} notification opt-ins (no FVH equivalent yet)."
            )
        run.report.not_imported.append("reminder thresholds (no FVH equivalent yet).")
        return
    _apply_optins(run, optins)
    if hasattr(Member, "low_balance_threshold_cents"):
        for user in users:
            member = run.new_members.get(user["id"])
            threshold = user.get("infomail_user_threshold")
            if member is not None and threshold is not None:
                member.low_balance_threshold_cents = cents(threshold)
    responsible = sorted({u.get("infomail_responsible_threshold") for u in users} - {None})
    if responsible:
        run.report.not_imported.append(
            "the per-member thresholds for the responsible person's mail "
            f"(values: {', '.join(map(str, responsible))}); FVH has one global "
            "setting, responsible_threshold_cents."
        )
    run.session.flush()


def _apply_optins(run: ImportRun, optins: list[dict[str, Any]]) -> None:
    """The legacy e-mail opt-ins as notification flags of the newly imported members."""
    applied = 0
    for optin in optins:
        member = run.new_members.get(optin["benutzer_id"])
        flag = NOTIFICATION_FLAGS.get(as_text(optin["event_schluessel"]))
        if member is not None and flag is not None:
            setattr(member, flag, True)
            applied += 1
    if applied:
        run.report.notes.append(
            f"{applied} e-mail notification opt-ins set on imported members "
            f"({', '.join(f'{k} → {v}' for k, v in NOTIFICATION_FLAGS.items())})."
        )
