"""Members: create, edit, lock, admin rights, password reset, delete."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response
from wtforms.widgets import PasswordInput

from fvh.core import ledger, members, notify, refusals, registration
from fvh.core.errors import DomainError, DuplicateCode, DuplicateEmail, MemberNotFound
from fvh.db.models import Member
from fvh.http.context import db_session
from fvh.web import i18n
from fvh.web.account import public_links
from fvh.web.admin import bp, confirmation
from fvh.web.auth import admin_required, current_actor, current_member
from fvh.web.forms import MemberBookingForm, MemberForm, NewMemberForm, TokenForm
from fvh.web.outcome import attempt


def member_or_404(member_id: int) -> Member:
    try:
        return members.get(db_session(), member_id)
    except MemberNotFound:
        abort(404)


def parse_min_balance(form: MemberForm) -> int | None:
    """The optional own minimum; raises ValidationError naming the field."""
    text = (form.min_balance.data or "").strip()
    if not text:
        return None
    return i18n.parse_money(text, field="min_balance")


def _duplicate_field(exc: DomainError) -> str | None:
    if isinstance(exc, DuplicateEmail):
        return "email"
    if isinstance(exc, DuplicateCode):
        return "code"
    return None


@bp.route("/members/new", methods=["GET", "POST"])
@admin_required
def member_new() -> ResponseReturnValue:
    form = NewMemberForm()
    if form.validate_on_submit():
        session = db_session()
        namesakes = _namesakes(form)
        if namesakes:
            return render_template(
                "web/admin/member_form.html", form=form, member=None, namesakes=namesakes
            )
        with attempt(form, field=_duplicate_field) as outcome:
            data = members.NewMember(
                code=(form.code.data or "").strip() or None,
                first_name=form.first_name.data or "",
                last_name=form.last_name.data or "",
                email=form.email.data,
                password=form.password.data or None,
                comment=form.comment.data or "",
                is_admin=form.is_admin.data,
                min_balance_cents=parse_min_balance(form),
            )
            member = members.create(session, data, current_actor())
            registration.welcome(session, member, public_links())
        if outcome.ok:
            flash(
                _(
                    "Mitglied %(name)s (%(code)s) angelegt.",
                    name=member.full_name,
                    code=member.code,
                ),
                "success",
            )
            return redirect(url_for("admin.member_detail", member_id=member.id))
    return render_template("web/admin/member_form.html", form=form, member=None)


def _namesakes(form: NewMemberForm) -> list[Member]:
    """Members of the same name as the new one, unless the admin already said to go on.

    The form comes back with the hint; the password typed stays in its field (the page is
    not cached), so that confirming does not create the member without it.
    """
    if form.same_name_confirmed.data:
        return []
    found = members.same_name(db_session(), form.first_name.data or "", form.last_name.data or "")
    if found:
        form.password.widget = PasswordInput(hide_value=False)
    return found


@bp.get("/members/<int:member_id>")
@admin_required
def member_detail(member_id: int) -> ResponseReturnValue:
    return render_member(member_or_404(member_id))


def render_member(
    member: Member,
    booking_form: MemberBookingForm | None = None,
    token_form: TokenForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The member page; the forms come filled (with errors) when a POST to them failed."""
    page = ledger.journal(db_session(), ledger.JournalFilter(member_id=member.id), limit=20)
    html = render_template(
        "web/admin/member_detail.html",
        member=member,
        entries=page.rows,
        entries_total=page.total,
        reversed_ids=page.reversed_ids,
        booking_form=booking_form or MemberBookingForm(formdata=None, kind="deposit"),
        token_form=token_form or TokenForm(formdata=None),
        is_self=member.id == current_member().id,
        refused=refusals.for_member(db_session(), member.id),
    )
    return html, status


@bp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
@admin_required
def member_edit(member_id: int) -> ResponseReturnValue:
    member = member_or_404(member_id)
    form = MemberForm(obj=member if request.method == "GET" else None)
    if request.method == "GET":
        form.min_balance.data = i18n.amount_input(member.min_balance_cents)
    if form.validate_on_submit():
        old_email = member.email
        with attempt(form, field=_duplicate_field) as outcome:
            changes = members.MemberChanges(
                first_name=form.first_name.data or "",
                last_name=form.last_name.data or "",
                email=form.email.data,
                comment=form.comment.data or "",
                min_balance_cents=parse_min_balance(form),
            )
            members.update_details(db_session(), member, changes, current_actor())
            notify.email_changed(db_session(), member, old_email)
        if outcome.ok:
            flash(_("Änderungen gespeichert."), "success")
            return redirect(url_for("admin.member_detail", member_id=member.id))
    return render_template("web/admin/member_form.html", form=form, member=member)


def _member_action(member_id: int, action: Callable[[Any, Any], object], done: str) -> Response:
    """Run one domain action on a member in the request's transaction, then back to the page."""
    member = member_or_404(member_id)
    with attempt() as outcome:
        action(db_session(), member)
    if outcome.ok:
        flash(done, "success")
    return redirect(url_for("admin.member_detail", member_id=member_id))


@bp.post("/members/<int:member_id>/lock")
@admin_required
def member_lock(member_id: int) -> ResponseReturnValue:
    locked = request.form.get("locked") == "1"
    return _member_action(
        member_id,
        lambda session, member: members.set_locked(session, member, locked, current_actor()),
        _("Mitglied gesperrt.") if locked else _("Mitglied entsperrt."),
    )


@bp.post("/members/<int:member_id>/approve")
@admin_required
def member_approve(member_id: int) -> ResponseReturnValue:
    """Approve a self-registration: unlock the member and send the welcome mail."""
    return _member_action(
        member_id,
        lambda session, member: registration.approve(
            session, member, current_actor(), public_links()
        ),
        _("Registrierung freigegeben."),
    )


@bp.post("/members/<int:member_id>/admin")
@admin_required
def member_admin(member_id: int) -> ResponseReturnValue:
    is_admin = request.form.get("is_admin") == "1"
    return _member_action(
        member_id,
        lambda session, member: members.set_admin(session, member, is_admin, current_actor()),
        _("Admin-Rechte erteilt.") if is_admin else _("Admin-Rechte entzogen."),
    )


@bp.post("/members/<int:member_id>/password")
@admin_required
def member_password(member_id: int) -> ResponseReturnValue:
    """Set a random one-time password, shown once; the member must change it at login.

    The first POST only asks: the old password stops working, which cannot be undone.
    """
    member = member_or_404(member_id)
    confirm = confirmation.Confirmation()
    if not confirm.given():
        return confirm.ask(
            title=_("Neues Passwort erzeugen"),
            warning=_(
                "%(name)s bekommt ein neues Einmal-Passwort; das bisherige gilt dann nicht "
                "mehr und angemeldete Sitzungen enden. Das lässt sich nicht rückgängig machen.",
                name=member.full_name,
            ),
            button=_("Neues Passwort erzeugen"),
            cancel_url=url_for("admin.member_detail", member_id=member.id),
        )
    password = secrets.token_urlsafe(12)
    session = db_session()
    members.set_password(
        session,
        member,
        password,
        current_actor(),
        must_change=True,
    )
    notify.password_changed(session, member, by_admin=True)
    session.commit()
    return render_template("web/admin/member_password.html", member=member, password=password)


@bp.route("/members/<int:member_id>/delete", methods=["GET", "POST"])
@admin_required
def member_delete(member_id: int) -> ResponseReturnValue:
    """Delete after the admin typed the member's code (checked here, not in the browser)."""
    member = member_or_404(member_id)
    mismatch = _("Bitte genau den Code %(code)s eingeben.", code=member.code)
    confirm = confirmation.Confirmation(member.code, mismatch)
    if confirm.given():
        label = f"{member.full_name} ({member.code})"
        with attempt() as outcome:
            members.delete(db_session(), member, current_actor())
        if not outcome.ok:
            return redirect(url_for("admin.member_detail", member_id=member_id))
        flash(_("Mitglied %(label)s gelöscht.", label=label), "success")
        return redirect(url_for("admin.dashboard"))
    bookings = ledger.journal(
        db_session(), ledger.JournalFilter(member_id=member.id), limit=0
    ).total
    return confirm.ask(
        title=_("Mitglied löschen"),
        warning=ngettext(
            "%(name)s wird gelöscht, mit allen Tokens und %(num)d Buchung; sie verschwindet "
            "aus dem Journal (Guthaben: %(balance)s). Das lässt sich nicht rückgängig machen.",
            "%(name)s wird gelöscht, mit allen Tokens und %(num)d Buchungen; sie verschwinden "
            "aus dem Journal (Guthaben: %(balance)s). Das lässt sich nicht rückgängig machen.",
            bookings,
            name=member.full_name,
            balance=i18n.money(member.balance_cents),
        ),
        cancel_url=url_for("admin.member_detail", member_id=member.id),
        # The CSV of exactly the bookings that go with the member.
        export_url=url_for("admin.journal_csv", member=member.code) if bookings else None,
    )
