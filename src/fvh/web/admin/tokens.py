"""NFC tokens: list, add by hex, rename, assign an unknown scan with one click, remove."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fvh.core import members, tokens
from fvh.core.errors import DomainError, MemberNotFound, TokenNotFound
from fvh.db.models import Token
from fvh.http.context import db_session
from fvh.http.routing import parse_id
from fvh.web.admin import bp, confirmation
from fvh.web.admin.members import member_or_404, render_member
from fvh.web.auth import admin_required, current_actor
from fvh.web.forms import TokenForm, TokenRenameForm
from fvh.web.outcome import attempt
from fvh.web.paging import current_pager


@bp.post("/members/<int:member_id>/tokens")
@admin_required
def token_add(member_id: int) -> ResponseReturnValue:
    member = member_or_404(member_id)
    form = TokenForm()
    if not form.validate_on_submit():
        return render_member(member, token_form=form, status=400)
    with attempt(form, field=_token_field) as outcome:
        data = tokens.parse_hex(form.token_hex.data or "")
        tokens.add(db_session(), member, data, form.name.data or "", current_actor())
    if not outcome.ok:
        return render_member(member, token_form=form, status=400)
    flash(_("Token %(token)s hinzugefügt.", token=tokens.to_hex(data)), "success")
    return redirect(url_for("admin.member_detail", member_id=member.id))


def _token_field(exc: DomainError) -> str:
    """A token's errors show at the hex field, except those about its name."""
    return "name" if getattr(exc, "field", None) == "name" else "token_hex"


def token_or_404(token_id: int) -> Token:
    try:
        return tokens.get(db_session(), token_id)
    except TokenNotFound:
        abort(404)


@bp.post("/tokens/<int:token_id>/rename")
@admin_required
def token_rename(token_id: int) -> ResponseReturnValue:
    token = token_or_404(token_id)
    member_id = token.member_id
    form = TokenRenameForm()
    if form.validate_on_submit():
        with attempt() as outcome:
            tokens.rename(db_session(), token, form.name.data or "", current_actor())
        if outcome.ok:
            flash(_("Token %(token)s umbenannt.", token=tokens.to_hex(token.data)), "success")
    else:
        flash(_("Das Formular war ungültig. Bitte erneut versuchen."), "error")
    return redirect(url_for("admin.member_detail", member_id=member_id, _anchor="tokens"))


@bp.post("/tokens/<int:token_id>/delete")
@admin_required
def token_delete(token_id: int) -> ResponseReturnValue:
    """Remove a token, after the confirmation step (terminals no longer know it then)."""
    session = db_session()
    token = token_or_404(token_id)
    member_id = token.member_id
    confirm = confirmation.Confirmation()
    if not confirm.given():
        return confirm.ask(
            title=_("Token entfernen"),
            warning=_(
                "Der Token %(token)s %(name)s wird von %(member)s entfernt; Terminals kennen "
                "ihn danach nicht mehr.",
                token=tokens.to_hex(token.data),
                name=token.name,
                member=token.member.full_name,
            ),
            button=_("Entfernen"),
            cancel_url=url_for("admin.member_detail", member_id=member_id, _anchor="tokens"),
        )
    tokens.remove(session, token, current_actor())
    session.commit()
    flash(_("Token entfernt."), "success")
    return redirect(url_for("admin.member_detail", member_id=member_id))


@bp.get("/tokens/")
@admin_required
def token_list() -> ResponseReturnValue:
    """All assigned tokens with owner, name and last use, page by page."""
    pager = current_pager()
    page = tokens.list_assigned(db_session(), limit=pager.per_page, offset=pager.offset)
    return render_template(
        "web/admin/tokens.html", tokens=page.rows, pager=pager.with_total(page.total)
    )


@bp.get("/tokens/unknown")
@admin_required
def unknown_tokens() -> ResponseReturnValue:
    session = db_session()
    return render_template(
        "web/admin/unknown_tokens.html",
        scans=tokens.unknown_scans(session, limit=200),
        members=members.search(session, sort="name", limit=None).rows,
    )


@bp.post("/tokens/unknown/<int:scan_id>/assign")
@admin_required
def unknown_token_assign(scan_id: int) -> ResponseReturnValue:
    """Give a token that a terminal did not know to the chosen member."""
    session = db_session()
    try:
        scan = tokens.get_unknown_scan(session, scan_id)
    except TokenNotFound:
        abort(404)
    try:
        member = members.get(session, parse_id(request.form.get("member_id")) or 0)
    except (MemberNotFound, ValueError):
        flash(_("Bitte ein Mitglied auswählen."), "error")
        return redirect(url_for("admin.unknown_tokens"))
    data = scan.data
    with attempt() as outcome:
        tokens.add(session, member, data, request.form.get("name", "").strip(), current_actor())
    if not outcome.ok:
        return redirect(url_for("admin.unknown_tokens"))
    flash(
        _(
            "Token %(token)s an %(name)s vergeben.",
            token=tokens.to_hex(data),
            name=member.full_name,
        ),
        "success",
    )
    return redirect(url_for("admin.unknown_tokens"))


@bp.post("/tokens/unknown/<int:scan_id>/dismiss")
@admin_required
def unknown_token_dismiss(scan_id: int) -> ResponseReturnValue:
    session = db_session()
    try:
        scan = tokens.get_unknown_scan(session, scan_id)
    except TokenNotFound:
        abort(404)
    tokens.dismiss_unknown_scan(session, scan)
    session.commit()
    flash(_("Eintrag verworfen."), "success")
    return redirect(url_for("admin.unknown_tokens"))
