"""Forms of the GUI. WTForms checks shape; the domain core checks the rules and names the field."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from fvh.core import form_tokens, passwords


class LoginForm(FlaskForm):
    identifier = StringField(_l("Code oder E-Mail"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(
        _l("Passwort"), validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)]
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Bisheriges Passwort"), validators=[DataRequired()])
    password = PasswordField(_l("Neues Passwort"), validators=[DataRequired()])
    confirm = PasswordField(
        _l("Neues Passwort wiederholen"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("Die Passwörter stimmen nicht überein.")),
        ],
    )


class NotificationsForm(FlaskForm):
    """A member's own e-mail notifications; the domain (`fvh.core.preferences`) checks the rules."""

    notify_bookings = BooleanField(_l("Bei jeder Buchung"))
    notify_zero = BooleanField(_l("Wenn mein Guthaben 0 erreicht"))
    notify_low_balance = BooleanField(_l("Wenn mein Guthaben unter die Schwelle fällt"))
    threshold = StringField(_l("Schwelle"), validators=[Optional(), Length(max=20)])


class MemberForm(FlaskForm):
    code = StringField(_l("Code"), validators=[Optional(), Length(max=10)])
    first_name = StringField(_l("Vorname"), validators=[DataRequired(), Length(max=255)])
    last_name = StringField(_l("Nachname"), validators=[DataRequired(), Length(max=255)])
    email = StringField(_l("E-Mail"), validators=[Optional(), Length(max=255)])
    comment = TextAreaField(_l("Kommentar"), validators=[Optional(), Length(max=1000)])
    min_balance = StringField(
        _l("Eigenes Mindestguthaben"), validators=[Optional(), Length(max=20)]
    )


class NewMemberForm(MemberForm):
    password = PasswordField(_l("Passwort (leer: keins)"), validators=[Optional()])
    is_admin = BooleanField(_l("Administrator"))
    # Ticked after the hint that a member of that name exists already.
    same_name_confirmed = BooleanField(_l("Ja, trotzdem anlegen"))


class BookingForm(FlaskForm):
    """A booking; its hidden one-time token keeps a form sent twice from booking twice."""

    amount = StringField(_l("Betrag"), validators=[DataRequired(), Length(max=20)])
    description = StringField(_l("Beschreibung"), validators=[DataRequired(), Length(max=255)])
    form_token = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.form_token.data:  # a new form; a form sent back keeps its token
            self.form_token.data = form_tokens.new_token()


class BulkBookingForm(BookingForm):
    """The same booking for many: the kind (deduct or credit) gives the sign.

    Without a kind (scripts of older versions) the amount keeps its typed sign.
    """

    kind = RadioField(
        _l("Art"),
        choices=[
            SelectChoice("debit", _l("Abziehen")),
            SelectChoice("credit", _l("Gutschreiben")),
        ],
        validate_choice=False,
    )


class MemberBookingForm(BookingForm):
    """A deposit or a correction for one member: the kind gives the sign, not a typed minus.

    A preset fills in the amount of a deposit; the view checks both choices. Without a
    kind (scripts of older versions) the amount keeps its typed sign.
    """

    kind = RadioField(
        _l("Art"),
        choices=[
            SelectChoice("deposit", _l("Einzahlung")),
            SelectChoice("credit", _l("Korrektur: gutschreiben")),
            SelectChoice("debit", _l("Korrektur: abziehen")),
        ],
        validate_choice=False,
    )
    preset = RadioField(_l("Schnellauswahl"), choices=[], validate_choice=False)
    amount = StringField(_l("Betrag"), validators=[Optional(), Length(max=20)])
    description = StringField(
        _l("Beschreibung"),
        validators=[Optional(), Length(max=255)],
        render_kw={"placeholder": _l("Einzahlung")},
    )


class ConfirmForm(FlaskForm):
    """A dangerous action: the admin types a given word (e.g. the member's code) to confirm."""

    confirmation = StringField(_l("Bestätigung"), validators=[DataRequired()])


class TokenForm(FlaskForm):
    token_hex = StringField(_l("Token (hex)"), validators=[DataRequired(), Length(max=120)])
    name = StringField(_l("Bezeichnung"), validators=[Optional(), Length(max=255)])


class ApiClientForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=255)])


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Bezeichnung"), validators=[Optional(), Length(max=255)])
    scope = SelectField(
        _l("Berechtigung"),
        choices=[
            SelectChoice("terminal", _l("Terminal")),
            SelectChoice("admin", _l("Verwaltung (admin)")),
        ],
    )


class SettingsForm(FlaskForm):
    organisation_name = StringField(_l("Name der Organisation"), validators=[DataRequired()])
    default_amount = StringField(_l("Preis pro Strich"), validators=[DataRequired()])
    min_balance = StringField(_l("Mindestguthaben"), validators=[DataRequired()])
    currency = StringField(_l("Währung"), validators=[DataRequired(), Length(max=12)])
    decimals = SelectField(
        _l("Nachkommastellen"), choices=[SelectChoice(str(n), str(n)) for n in (0, 1, 2)]
    )
    self_registration = BooleanField(_l("Selbstregistrierung erlauben"))
    # Empty keeps the current value; the domain checks the range.
    undo_window = IntegerField(_l("Rücknahmefrist (Sekunden)"), validators=[Optional()])
    # Empty keeps the current value (older forms and scripts do not send it).
    responsible_threshold = StringField(
        _l("Meldeschwelle für Verantwortliche"), validators=[Optional(), Length(max=20)]
    )


class TokenRenameForm(FlaskForm):
    """A token's new name; the domain checks the length (empty is allowed)."""

    name = StringField(_l("Bezeichnung"), validators=[Optional()])
