"""System settings and the audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from fvh.core import audit, system_settings
from fvh.core.errors import DomainError, ValidationError
from fvh.db.models import AuditEntry, Member, Transaction
from fvh.http.context import db_session
from fvh.web import i18n
from fvh.web.admin import bp
from fvh.web.auth import admin_required, current_actor
from fvh.web.forms import SettingsForm
from fvh.web.outcome import attempt
from fvh.web.paging import current_pager

# Domain field names -> form field names, for errors.
SETTINGS_FIELDS = {
    "default_amount_cents": "default_amount",
    "min_balance_cents": "min_balance",
    "default_amount": "default_amount",
    "min_balance": "min_balance",
    "undo_window_seconds": "undo_window",
    "responsible_threshold_cents": "responsible_threshold",
    "responsible_threshold": "responsible_threshold",
}


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings() -> ResponseReturnValue:
    session = db_session()
    current = i18n.system()
    form = SettingsForm()
    if request.method == "GET":
        form.organisation_name.data = current.organisation_name
        # A tap debits the price: shown and typed as the positive price of one tally mark.
        form.default_amount.data = i18n.amount_input(-current.default_amount_cents)
        form.min_balance.data = i18n.amount_input(current.min_balance_cents)
        form.currency.data = current.currency
        form.decimals.data = str(current.decimals)
        form.self_registration.data = current.self_registration
        form.undo_window.data = current.undo_window_seconds
        form.responsible_threshold.data = i18n.amount_input(current.responsible_threshold_cents)
    if form.validate_on_submit():
        decimals = int(form.decimals.data or 2)
        with attempt(form, field=_settings_field) as outcome:
            system_settings.update(
                session,
                current_actor(),
                organisation_name=(form.organisation_name.data or "").strip(),
                default_amount_cents=-_tap_price(form, decimals),
                min_balance_cents=i18n.parse_money(
                    form.min_balance.data, decimals=decimals, field="min_balance"
                ),
                currency=(form.currency.data or "").strip(),
                decimals=decimals,
                self_registration=bool(form.self_registration.data),
                undo_window_seconds=(
                    current.undo_window_seconds
                    if form.undo_window.data is None
                    else form.undo_window.data
                ),
                responsible_threshold_cents=_responsible_threshold(form, current, decimals),
            )
        if outcome.ok:
            flash(_("Einstellungen gespeichert."), "success")
            return redirect(url_for("admin.settings"))
    status = 400 if form.errors else 200
    return render_template("web/admin/settings.html", form=form), status


def _tap_price(form: SettingsForm, decimals: int) -> int:
    """The price of one tap as typed, a positive amount; the setting stores its debit.

    A minus (how this field was written before) changes nothing: a tap always debits.
    """
    price = abs(
        i18n.parse_money(form.default_amount.data, decimals=decimals, field="default_amount")
    )
    if price == 0:
        raise ValidationError(_("Bitte einen Preis über 0 eingeben, z. B. 1,50."), "default_amount")
    return price


def _settings_field(exc: DomainError) -> str | None:
    """The form field of the setting an error names."""
    field = getattr(exc, "field", None)
    return SETTINGS_FIELDS.get(field or "", field)


def _responsible_threshold(
    form: SettingsForm, current: system_settings.SystemSettings, decimals: int
) -> int:
    """The threshold typed in; an empty field keeps the current one."""
    text = (form.responsible_threshold.data or "").strip()
    if not text:
        return current.responsible_threshold_cents
    return i18n.parse_money(text, decimals=decimals, field="responsible_threshold")


@bp.get("/audit")
@admin_required
def audit_log() -> ResponseReturnValue:
    action = request.args.get("action", "").strip()[:64]
    text = request.args.get("q", "").strip()[:100]
    pager = current_pager()
    session = db_session()
    page = audit.list_entries(
        session, action=action, text=text, limit=pager.per_page, offset=pager.offset
    )
    targets = _audit_targets(session, page.rows)
    return render_template(
        "web/admin/audit.html",
        entries=[
            AuditRow(entry, targets.get(entry.id), audit_changes(entry.before, entry.after))
            for entry in page.rows
        ],
        pager=pager.with_total(page.total),
        action=action,
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
}
_ORDER = {key: index for index, key in enumerate(AUDIT_LABELS)}


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


def _show(key: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("ja") if value else _("nein")
    if key.endswith("_cents") and isinstance(value, int):
        return i18n.money(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def audit_changes(before_text: str | None, after_text: str | None) -> list[AuditChange]:
    """Before/after JSON as readable fields: changed ones as before → after, the rest once."""
    before, after = _decode(before_text), _decode(after_text)
    changes = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (_ORDER.get(k, len(_ORDER)), k)):
        label = str(AUDIT_LABELS.get(key, key))
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
