"""The GUI's account links: forgotten password, a new e-mail address, self-registration.

Links in mails come from PUBLIC_URL and the route paths, never from the request's Host or
forwarded headers, so a forged request cannot make the app mail a link to someone else's
server. The domain (`fvh.core.account_links`, `fvh.core.registration`) decides; this door commits.
"""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from fvh.core import account_links, members, passwords, registration
from fvh.core.errors import Conflict, DomainError, ValidationError
from fvh.http import access
from fvh.http.context import app_config, db_session
from fvh.web import auth, mail_links
from fvh.web.common import gui_blueprint
from fvh.web.limiter import form_limited
from fvh.web.outcome import attempt

log = logging.getLogger(__name__)

bp = gui_blueprint("account", __name__)
# Templates ask it whether to offer links that work only by mail (login page, own account).
bp.add_app_template_global(mail_links.mail_help, "mail_help")


class ForgotPasswordForm(FlaskForm):
    email = StringField(_l("E-Mail"), validators=[DataRequired(), Length(max=255)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("Neues Passwort"), validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)]
    )
    confirm = PasswordField(
        _l("Neues Passwort wiederholen"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("Die Passwörter stimmen nicht überein.")),
        ],
    )


class EmailChangeForm(FlaskForm):
    email = StringField(_l("Neue E-Mail-Adresse"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(
        _l("Ihr Passwort"), validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)]
    )


class ConfirmLinkForm(FlaskForm):
    """Only the CSRF token: a link is used by a button, never by the GET a mail scanner makes."""


class RegistrationForm(FlaskForm):
    first_name = StringField(_l("Vorname"), validators=[DataRequired(), Length(max=255)])
    last_name = StringField(_l("Nachname"), validators=[DataRequired(), Length(max=255)])
    email = StringField(_l("E-Mail"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(
        _l("Passwort"), validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)]
    )
    confirm = PasswordField(
        _l("Passwort wiederholen"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("Die Passwörter stimmen nicht überein.")),
        ],
    )


def public_links() -> account_links.Links | None:
    """The links for mails, from PUBLIC_URL; None (and an error in the log) without it."""
    configured = app_config().public_url
    if not configured.strip():
        return None
    try:
        base = account_links.check_public_url(configured)
    except ValidationError as exc:
        log.error("%s Links in e-mails are off.", exc.message)
        return None
    # Paths from the URL map alone: the request's host, prefix and forwarded headers play no part.
    adapter = current_app.url_map.bind("localhost", script_name="/")

    def url(endpoint: str) -> str:
        return base + adapter.build(endpoint, {})

    return account_links.Links(
        login=url("web.login"),
        forgot_password=url("account.forgot_password"),
        reset_password=url("account.reset_password"),
        confirm_email=url("account.confirm_email"),
        admin_members=url("admin.dashboard"),
        app_secret=app_config().app_secret,
    )


def _link_error(exc: DomainError) -> ResponseReturnValue:
    """An unusable link: 400 when it never existed, 410 when it is used up or too old."""
    if isinstance(exc, account_links.TokenExpired):
        code, message = 410, _("Dieser Link ist abgelaufen oder wurde bereits benutzt.")
    else:
        code, message = 400, _("Dieser Link ist ungültig.")
    return render_template("web/account/link_error.html", code=code, message=message), code


@bp.route("/account/forgot", methods=["GET", "POST"])
@access.public
@form_limited
def forgot_password() -> ResponseReturnValue:
    """Ask for a reset link. The answer is the same whether or not the address is known."""
    links = public_links()
    if links is None or not mail_links.mail_goes_out():
        return mail_links.refusal(_("Passwort vergessen"))
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        with attempt(form, errors=ValidationError) as outcome:
            account_links.request_password_reset(db_session(), form.email.data or "", links)
        if outcome.ok:
            return render_template("web/account/reset_sent.html")
    status = 400 if form.errors else 200
    return render_template("web/account/forgot.html", form=form), status


@bp.route("/account/reset", methods=["GET", "POST"])
@access.public
@form_limited
def reset_password() -> ResponseReturnValue:
    """Set a new password from the link of a reset mail."""
    token = request.args.get("token", "")
    if not token:
        return redirect(url_for("account.forgot_password"))
    session = db_session()
    try:
        account_links.find(session, token, account_links.RESET)
    except (account_links.TokenInvalid, account_links.TokenExpired) as exc:
        return _link_error(exc)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            with attempt(form, errors=ValidationError) as outcome:
                member = account_links.reset_password(session, token, form.password.data or "")
        except (account_links.TokenInvalid, account_links.TokenExpired) as exc:
            return _link_error(exc)
        if outcome.ok:
            log.info("password of %s reset by e-mail link", member.code)
            if current_user.is_authenticated:
                auth.end_session()
            flash(_("Ihr Passwort wurde geändert. Bitte melden Sie sich an."), "success")
            return redirect(url_for("web.login"))
    status = 400 if form.errors else 200
    return render_template("web/account/reset.html", form=form), status


@bp.route("/account/email", methods=["GET", "POST"])
@auth.login_required_rule
@form_limited
def change_email() -> ResponseReturnValue:
    """Ask for a new address; it counts only once the link sent to it has been opened.

    The answer is the same whether or not the address is taken (see the core)."""
    links = public_links()
    if links is None or not mail_links.mail_goes_out():
        return mail_links.refusal(_("E-Mail-Adresse ändern"))
    member = auth.current_member()
    form = EmailChangeForm()
    status = 200
    if form.validate_on_submit():
        with attempt(form, errors=ValidationError) as outcome:
            sent = account_links.request_email_change(
                db_session(), member, form.email.data or "", form.password.data or "", links
            )
        if outcome.ok:
            if not sent:
                flash(_("Zu viele Anfragen. Bitte in einer Stunde erneut versuchen."), "error")
                status = 429
            else:
                flash(
                    _(
                        "Wir haben einen Bestätigungslink an %(email)s geschickt. Die neue "
                        "Adresse gilt, sobald Sie ihn öffnen.",
                        email=members.normalize_email(form.email.data),
                    ),
                    "success",
                )
                return redirect(url_for("account.change_email"))
    if form.errors:
        status = 400
    return render_template("web/account/email.html", form=form, member=member), status


@bp.route("/account/email/confirm", methods=["GET", "POST"])
@access.public
@form_limited
def confirm_email() -> ResponseReturnValue:
    """Confirm a new address from its link (a button, so that mail scanners change nothing)."""
    token = request.args.get("token", "")
    if not token:
        return redirect(url_for("web.index"))
    session = db_session()
    try:
        pending = account_links.find(session, token, account_links.VERIFY)
    except (account_links.TokenInvalid, account_links.TokenExpired) as exc:
        return _link_error(exc)
    form = ConfirmLinkForm()
    if form.validate_on_submit():
        try:
            member = account_links.confirm_email_change(session, token)
        except (account_links.TokenInvalid, account_links.TokenExpired) as exc:
            session.rollback()
            return _link_error(exc)
        except Conflict:
            session.rollback()
            message = _("Diese E-Mail-Adresse gehört inzwischen zu einem anderen Konto.")
            return render_template("web/account/link_error.html", code=409, message=message), 409
        session.commit()
        log.info("e-mail address of %s changed by link", member.code)
        flash(_("Ihre neue E-Mail-Adresse ist bestätigt."), "success")
        return redirect(url_for("web.index"))
    return render_template("web/account/email_confirm.html", form=form, new_email=pending.new_email)


@bp.route("/register", methods=["GET", "POST"])
@access.public
@form_limited
def register() -> ResponseReturnValue:
    """Self-registration (when switched on): a locked account until an admin approves it."""
    session = db_session()
    if not registration.is_open(session):
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = RegistrationForm()
    status = 200
    if form.validate_on_submit():
        errors = (ValidationError, registration.TooManyPending)
        try:
            with attempt(form, errors=errors, message=_registration_error) as outcome:
                registration.register(
                    session,
                    registration.Registration(
                        first_name=form.first_name.data or "",
                        last_name=form.last_name.data or "",
                        email=form.email.data or "",
                        password=form.password.data or "",
                    ),
                    public_links(),
                )
        except registration.RegistrationClosed:
            abort(404)
        if outcome.ok:
            return render_template("web/account/registered.html")
        if isinstance(outcome.error, registration.TooManyPending):
            status = 429
    if form.errors:
        status = 400
    return render_template("web/account/register.html", form=form), status


def _registration_error(exc: DomainError) -> str | None:
    """Too many open registrations: the form asks to come back later."""
    if isinstance(exc, registration.TooManyPending):
        return _("Zurzeit sind zu viele Registrierungen offen. Bitte später erneut.")
    return None
