"""System settings (the audit log is in `audit_log`, the configuration's state in `status`)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fvh.core import system_settings
from fvh.core.errors import DomainError, ValidationError
from fvh.http.context import db_session
from fvh.web import i18n
from fvh.web.admin import bp
from fvh.web.auth import admin_required, current_actor
from fvh.web.forms import SettingsForm
from fvh.web.outcome import attempt

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
