"""System settings and the audit log."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fvh import audit, money
from fvh import settings as system_settings
from fvh.app import db_session
from fvh.errors import DomainError
from fvh.web import i18n
from fvh.web.admin import bp
from fvh.web.auth import admin_required, current_actor
from fvh.web.forms import SettingsForm, show_error
from fvh.web.paging import current_pager

# Domain field names -> form field names, for errors.
SETTINGS_FIELDS = {
    "default_amount_cents": "default_amount",
    "min_balance_cents": "min_balance",
    "default_amount": "default_amount",
    "min_balance": "min_balance",
}


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings() -> ResponseReturnValue:
    session = db_session()
    current = i18n.system()
    form = SettingsForm()
    if request.method == "GET":
        form.organisation_name.data = current.organisation_name
        form.default_amount.data = i18n.amount_input(current.default_amount_cents)
        form.min_balance.data = i18n.amount_input(current.min_balance_cents)
        form.currency.data = current.currency
        form.decimals.data = str(current.decimals)
    if form.validate_on_submit():
        decimals = int(form.decimals.data or 2)
        try:
            system_settings.update(
                session,
                current_actor(),
                organisation_name=(form.organisation_name.data or "").strip(),
                default_amount_cents=money.parse_amount(
                    form.default_amount.data or "", decimals=decimals, field="default_amount"
                ),
                min_balance_cents=money.parse_amount(
                    form.min_balance.data or "", decimals=decimals, field="min_balance"
                ),
                currency=(form.currency.data or "").strip(),
                decimals=decimals,
            )
        except DomainError as exc:
            session.rollback()
            field = getattr(exc, "field", None)
            show_error(form, exc, SETTINGS_FIELDS.get(field or "", field))
        else:
            session.commit()
            flash(_("Einstellungen gespeichert."), "success")
            return redirect(url_for("admin.settings"))
    status = 400 if form.errors else 200
    return render_template("web/admin/settings.html", form=form), status


@bp.get("/audit")
@admin_required
def audit_log() -> ResponseReturnValue:
    action = request.args.get("action", "").strip()[:64]
    text = request.args.get("q", "").strip()[:100]
    pager = current_pager()
    page = audit.list_entries(
        db_session(), action=action, text=text, limit=pager.per_page, offset=pager.offset
    )
    return render_template(
        "web/admin/audit.html",
        entries=page.rows,
        pager=pager.with_total(page.total),
        action=action,
        query=text,
    )
