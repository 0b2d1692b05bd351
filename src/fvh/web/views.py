"""The GUI for everyone: login, logout, own password, language, assets and the member's page."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from fvh.core import ledger, logins, members, notify
from fvh.core.errors import ValidationError
from fvh.db.models import Member
from fvh.http import access
from fvh.http.context import db_session
from fvh.web import auth, i18n, me
from fvh.web.common import gui_blueprint
from fvh.web.forms import LoginForm, PasswordChangeForm
from fvh.web.limiter import form_limited
from fvh.web.outcome import attempt
from fvh.web.paging import current_pager

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"

bp = gui_blueprint("web", __name__)
bp.register_blueprint(me.bp, url_prefix="/me")


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site: never `//host` or `https://host` (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


@bp.get("/assets/<path:filename>")
@access.public
def asset(filename: str) -> ResponseReturnValue:
    return send_from_directory(STATIC_DIR, filename, max_age=3600)


@bp.get("/")
@auth.login_required_rule
def index() -> ResponseReturnValue:
    """The member's own page: balance, tokens, latest bookings."""
    member = auth.current_member()
    pager = current_pager()
    page = ledger.journal(
        db_session(),
        ledger.JournalFilter(member_id=member.id),
        limit=pager.per_page,
        offset=pager.offset,
    )
    return render_template(
        "web/home.html",
        member=member,
        entries=page.rows,
        reversed_ids=page.reversed_ids,
        pager=pager.with_total(page.total),
        undo=me.undo_offer(member),
    )


@bp.route("/login", methods=["GET", "POST"])
@access.public
@form_limited
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = LoginForm()
    if form.validate_on_submit():
        session = db_session()
        ip_address = request.remote_addr or ""
        try:
            member = logins.authenticate(
                session, form.identifier.data or "", form.password.data or "", ip_address
            )
        except logins.LoginRefused as exc:
            session.commit()  # the failed attempt counts
            log.info(
                "login refused for %r from %s: %s",
                logins.normalize_identifier(form.identifier.data or ""),
                ip_address,
                type(exc).__name__,
            )
            if isinstance(exc, logins.TooManyAttempts):
                return _too_many_attempts("web/login.html", form=form)
            if isinstance(exc, logins.AccountLocked):
                flash(_("Dieses Konto ist gesperrt."), "error")
            else:
                flash(_("Code/E-Mail oder Passwort ist falsch."), "error")
            return render_template("web/login.html", form=form), 200
        session.commit()
        log.info("login of %s from %s", member.code, ip_address)
        auth.start_session(member)
        if member.must_change_password:
            return redirect(url_for("web.password"))
        return redirect(safe_next(request.args.get("next"), landing_page(member)))
    return render_template("web/login.html", form=form)


def landing_page(member: Member) -> str:
    """Where a login leads: an admin to the dashboard, a member to their own page."""
    return url_for("admin.dashboard") if member.is_admin else url_for("web.index")


@bp.post("/logout")
@access.public
def logout() -> ResponseReturnValue:
    """End this session and, by raising the version, every other session of the member."""
    if current_user.is_authenticated:
        member = auth.current_member()
        member.session_version += 1
        db_session().commit()
        log.info("logout of %s", member.code)
    auth.end_session()
    flash(_("Sie sind abgemeldet."), "info")
    return redirect(url_for("web.login"))


def _too_many_attempts(template: str, **context: object) -> ResponseReturnValue:
    """The refusal of a throttled login, also of a throttled current-password check."""
    flash(_("Zu viele Fehlversuche. Bitte in einigen Minuten erneut versuchen."), "error")
    return render_template(template, **context), 429


def _current_password_refused(
    session: Session, member: Member, form: PasswordChangeForm
) -> ResponseReturnValue | None:
    """Check the current password as a login attempt (throttled and counted): the answer
    when it is refused, after committing the attempt so it counts; None when it is right."""
    try:
        logins.check_current_password(
            session, member, form.current_password.data or "", request.remote_addr or ""
        )
    except logins.LoginRefused as exc:
        session.commit()
        log.info("current password refused for %s: %s", member.code, type(exc).__name__)
        context = {"form": form, "forced": member.must_change_password}
        if isinstance(exc, logins.TooManyAttempts):
            return _too_many_attempts("web/password.html", **context)
        form.current_password.errors = [_("Das bisherige Passwort ist falsch.")]
        return render_template("web/password.html", **context)
    return None


@bp.route("/password", methods=["GET", "POST"])
@auth.login_required_rule
def password() -> ResponseReturnValue:
    """Change the own password (forced for the bootstrap admin before anything else)."""
    member = auth.current_member()
    forced = member.must_change_password
    form = PasswordChangeForm()
    if form.validate_on_submit():
        session = db_session()
        refused = _current_password_refused(session, member, form)
        if refused is not None:
            return refused
        if form.password.data == form.current_password.data:
            form.password.errors = [_("Das neue Passwort muss sich vom bisherigen unterscheiden.")]
        else:
            with attempt(form, errors=ValidationError) as outcome:
                members.set_password(
                    session,
                    member,
                    form.password.data or "",
                    auth.current_actor(),
                )
                notify.password_changed(session, member)
            if outcome.ok:
                auth.remember_version(member)  # this session stays, all others end
                flash(_("Das Passwort wurde geändert."), "success")
                # The forced change ends the first login: on to where a login leads.
                return redirect(landing_page(member) if forced else url_for("web.index"))
    return render_template("web/password.html", form=form, forced=member.must_change_password)


@bp.post("/language")
@access.public
def language() -> ResponseReturnValue:
    """Remember the chosen language in a cookie (a year) and return to the page."""
    chosen = request.form.get("language", "")
    response = redirect(safe_next(request.form.get("next"), url_for("web.index")))
    if chosen in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=current_app.session_interface.get_cookie_secure(current_app),
        )
    return response
