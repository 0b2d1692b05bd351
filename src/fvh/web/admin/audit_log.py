"""The audit log as admins read it: actions and fields in words, targets by name, a filter.

The core records machine names (`token.add`, `key_id`); this view turns them into the UI
language. A name without a label (a newer action, an older entry) is shown as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from fvh.core import audit
from fvh.db.models import AuditEntry, Member, Transaction
from fvh.http.context import db_session
from fvh.web import i18n
from fvh.web.admin import bp
from fvh.web.auth import admin_required
from fvh.web.paging import current_pager

# Every action the core records (`audit.record(...)`), by group; a test keeps this in step.
ACTION_GROUPS: dict[str, tuple[Any, tuple[str, ...], dict[str, Any]]] = {
    # group key: (group label, action prefixes of the group, {action: label})
    "members": (
        _l("Mitglieder"),
        ("member.",),
        {
            "member.create": _l("Mitglied angelegt"),
            "member.update": _l("Mitglied geändert"),
            "member.lock": _l("Mitglied gesperrt"),
            "member.unlock": _l("Mitglied entsperrt"),
            "member.approve": _l("Registrierung freigegeben"),
            "member.password": _l("Passwort geändert"),
            "member.notifications": _l("Benachrichtigungen geändert"),
            "member.grant_admin": _l("Adminrechte erteilt"),
            "member.revoke_admin": _l("Adminrechte entzogen"),
            "member.delete": _l("Mitglied gelöscht"),
        },
    ),
    "tokens": (
        _l("Tokens"),
        ("token.",),
        {
            "token.add": _l("Token hinzugefügt"),
            "token.rename": _l("Token umbenannt"),
            "token.delete": _l("Token entfernt"),
        },
    ),
    "bookings": (
        _l("Buchungen"),
        ("transaction.", "journal."),
        {
            "transaction.reverse": _l("Buchung storniert"),
            "journal.delete": _l("Buchungen gelöscht"),
        },
    ),
    "settings": (
        _l("Einstellungen"),
        ("settings.",),
        {"settings.update": _l("Einstellungen geändert")},
    ),
    "api": (
        _l("API"),
        ("api_client.", "api_key."),
        {
            "api_client.create": _l("API-Benutzer angelegt"),
            "api_client.delete": _l("API-Benutzer gelöscht"),
            "api_key.create": _l("API-Schlüssel erzeugt"),
            "api_key.revoke": _l("API-Schlüssel widerrufen"),
        },
    ),
    "import": (
        _l("Import"),
        ("legacy.",),
        {"legacy.import": _l("Altdaten importiert")},
    ),
}
ACTION_LABELS: dict[str, Any] = {
    action: label
    for _group, _prefixes, labels in ACTION_GROUPS.values()
    for action, label in labels.items()
}


def action_label(action: str) -> str:
    """The action in words; an unknown one as it was recorded."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


@dataclass(frozen=True)
class ActionChoice:
    value: str
    label: str


@dataclass(frozen=True)
class ActionGroup:
    """One `<optgroup>` of the filter: "all of the group" first, then each action."""

    label: str
    choices: list[ActionChoice]


def action_filter(selected: str) -> tuple[list[ActionGroup], str | list[str], bool]:
    """The filter's groups, what `audit.list_entries` gets for the selection, and whether the
    selection is one the dropdown does not offer (a typed prefix, an older link)."""
    groups = []
    prefixes: str | list[str] = selected
    for key, (label, group_prefixes, labels) in ACTION_GROUPS.items():
        choices = [ActionChoice(key, _("alle: %(group)s", group=label))]
        choices += [ActionChoice(action, str(text)) for action, text in labels.items()]
        groups.append(ActionGroup(str(label), choices))
        if selected == key:
            prefixes = list(group_prefixes)
    offered = selected == "" or selected in ACTION_GROUPS or selected in ACTION_LABELS
    return groups, prefixes, not offered


@bp.get("/audit")
@admin_required
def audit_log() -> ResponseReturnValue:
    selected = request.args.get("action", "").strip()[:64]
    text = request.args.get("q", "").strip()[:100]
    groups, prefixes, other = action_filter(selected)
    pager = current_pager()
    session = db_session()
    page = audit.list_entries(
        session, action=prefixes, text=text, limit=pager.per_page, offset=pager.offset
    )
    targets = _audit_targets(session, page.rows)
    return render_template(
        "web/admin/audit.html",
        entries=[
            AuditRow(
                entry,
                action_label(entry.action),
                targets.get(entry.id),
                audit_changes(entry.before, entry.after),
            )
            for entry in page.rows
        ],
        pager=pager.with_total(page.total),
        action=selected,
        action_groups=groups,
        other_action=other,
        query=text,
    )


# How the audit log shows the audited fields, in this order; other keys come after, as they are.
AUDIT_LABELS = {
    "code": _l("Code"),
    "first_name": _l("Vorname"),
    "last_name": _l("Nachname"),
    "email": _l("E-Mail"),
    "comment": _l("Kommentar"),
    "token": _l("Token"),
    "name": _l("Bezeichnung"),
    "amount_cents": _l("Betrag"),
    "description": _l("Beschreibung"),
    "balance_cents": _l("Guthaben"),
    "min_balance_cents": _l("Mindestguthaben"),
    "locked": _l("gesperrt"),
    "is_admin": _l("Admin"),
    "organisation_name": _l("Name der Organisation"),
    "default_amount_cents": _l("Betrag pro Strich"),
    "currency": _l("Währung"),
    "decimals": _l("Nachkommastellen"),
    "self_registration": _l("Selbstregistrierung erlauben"),
    "undo_window_seconds": _l("Rücknahmefrist (Sekunden)"),
    "responsible_threshold_cents": _l("Meldeschwelle für Verantwortliche"),
    "sum_of_balances_cents": _l("Summe der Guthaben"),
    "entries": _l("Buchungen"),
    # API keys
    "key_id": _l("Schlüssel-Nr."),
    "prefix": _l("Schlüsselanfang"),
    "scope": _l("Berechtigung"),
    # a member's own e-mail choices
    "notify_bookings": _l("Mail bei jeder Buchung"),
    "notify_zero": _l("Mail bei Guthaben 0"),
    "notify_low_balance": _l("Mail unter der Schwelle"),
    "low_balance_threshold_cents": _l("Schwelle"),
    # the legacy import: per kind, what was imported, already there or skipped
    "members": _l("Mitglieder"),
    "journal rows": _l("Buchungen"),
    "tokens": _l("Tokens"),
    "API clients": _l("API-Benutzer"),
    "API keys": _l("API-Schlüssel"),
    "settings": _l("Einstellungen"),
    "imported": _l("importiert"),
    "present": _l("schon vorhanden"),
    "skipped": _l("übersprungen"),
}
_ORDER = {key: index for index, key in enumerate(AUDIT_LABELS)}
# Values that are names themselves.
VALUE_LABELS = {"scope": {"terminal": _l("Terminal"), "admin": _l("Verwaltung (admin)")}}


def field_label(key: str) -> str:
    """A recorded field in words; an unknown one as it was recorded."""
    label = AUDIT_LABELS.get(key)
    return str(label) if label is not None else key


@dataclass(frozen=True)
class AuditChange:
    """One audited field: `before` or `after` is None when the entry has no such side."""

    label: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class AuditTarget:
    text: str
    url: str | None = None


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    action: str
    target: AuditTarget | None
    changes: list[AuditChange]


def _decode(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return value if isinstance(value, dict) else {"": value}


def _sorted_keys(keys: Any) -> list[str]:
    return sorted(keys, key=lambda k: (_ORDER.get(k, len(_ORDER)), k))


def _show(key: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("ja") if value else _("nein")
    if key.endswith("_cents") and isinstance(value, int):
        return i18n.money(value)
    if isinstance(value, str) and value in VALUE_LABELS.get(key, {}):
        return str(VALUE_LABELS[key][value])
    if isinstance(value, dict):
        return ", ".join(f"{field_label(k)} {_show(k, value[k])}" for k in _sorted_keys(value))
    if isinstance(value, list):
        return ", ".join(_show(key, item) for item in value)
    return str(value)


def audit_changes(before_text: str | None, after_text: str | None) -> list[AuditChange]:
    """Before/after JSON as readable fields: changed ones as before → after, the rest once."""
    before, after = _decode(before_text), _decode(after_text)
    changes = []
    for key in _sorted_keys(before.keys() | after.keys()):
        label = field_label(key)
        if key in before and key in after:
            if before[key] != after[key]:
                changes.append(AuditChange(label, _show(key, before[key]), _show(key, after[key])))
        elif key in after:
            if after[key] not in (None, ""):  # a new member's empty fields say nothing
                changes.append(AuditChange(label, None, _show(key, after[key])))
        else:
            changes.append(AuditChange(label, _show(key, before[key]), None))
    return changes


def _audit_targets(session: Session, entries: list[AuditEntry]) -> dict[int, AuditTarget]:
    """What the targets mean: members (by code), bookings (by id), the settings."""
    codes = {e.target for e in entries if e.action.startswith(("member.", "token.", "journal."))}
    booking_ids = {
        int(e.target) for e in entries if e.action.startswith("transaction.") and e.target.isdigit()
    }
    members = (
        {m.code: m for m in session.scalars(select(Member).where(Member.code.in_(codes)))}
        if codes
        else {}
    )
    bookings = (
        {
            t.id: t
            for t in session.scalars(
                select(Transaction)
                .where(Transaction.id.in_(booking_ids))
                .options(joinedload(Transaction.member))
            )
        }
        if booking_ids
        else {}
    )
    targets: dict[int, AuditTarget] = {}
    for entry in entries:
        if entry.action == "settings.update":
            targets[entry.id] = AuditTarget(_("Einstellungen"), url_for("admin.settings"))
        elif entry.action.startswith("journal.") and entry.target == "*":
            targets[entry.id] = AuditTarget(_("alle Buchungen"))
        elif entry.target in members and not entry.action.startswith("transaction."):
            member = members[entry.target]
            targets[entry.id] = AuditTarget(
                f"{member.full_name} ({member.code})",
                url_for("admin.member_detail", member_id=member.id),
            )
        elif entry.action.startswith("transaction.") and entry.target.isdigit():
            text = _("Buchung #%(id)s", id=entry.target)
            booking = bookings.get(int(entry.target))
            if booking is None:
                targets[entry.id] = AuditTarget(text)
            else:
                targets[entry.id] = AuditTarget(
                    f"{text} · {booking.member.full_name}",
                    url_for("admin.journal", member=booking.member.code) + f"#tx-{booking.id}",
                )
    return targets
