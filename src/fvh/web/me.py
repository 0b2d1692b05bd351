"""The member's self-service (`/me/...`): notifications, undo, QR codes, statements, charts.

Nested in the `web` blueprint (endpoints `web.me.*`), so it shares its hooks, error pages and
access checks. No URL carries an id: every view works on the logged-in member only.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from limits import parse
from werkzeug.exceptions import TooManyRequests

from fvh.core import preferences, qr, statements, undo
from fvh.core.errors import DomainError, UndoRefused
from fvh.db.models import Member, utcnow
from fvh.http.context import app_config, db_session
from fvh.http.routing import MAX_ID
from fvh.web import auth, heavy, i18n
from fvh.web.common import FieldRefused, RequestRefused
from fvh.web.forms import NotificationsForm
from fvh.web.outcome import attempt

bp = Blueprint("me", __name__)
_ID_RE = re.compile(r"[0-9]{1,12}")


def undo_offer(member: Member) -> undo.Undoable | None:
    """The booking the member's page offers to undo (for `web.index`)."""
    window = timedelta(seconds=i18n.system().undo_window_seconds)
    return undo.undoable(db_session(), member, utcnow(), window)


def _undo_message(reason: str) -> str:
    messages = {
        undo.NOTHING: _("Es gibt keine Buchung, die Sie zurücknehmen könnten."),
        undo.NOT_OWN: _("Diese Buchung gibt es nicht."),
        undo.NOT_LAST: _("Nur Ihre letzte Buchung kann zurückgenommen werden."),
        undo.NOT_TERMINAL: _("Nur eine Buchung am Terminal kann zurückgenommen werden."),
        undo.EXPIRED: _("Die Frist zum Zurücknehmen ist abgelaufen."),
        undo.ALREADY: _("Diese Buchung wurde bereits zurückgenommen."),
    }
    return messages.get(reason, _("Diese Buchung kann nicht zurückgenommen werden."))


def _undo_error(exc: DomainError) -> str | None:
    return _undo_message(exc.reason) if isinstance(exc, UndoRefused) else None


@bp.post("/undo")
@auth.login_required_rule
def undo_booking() -> ResponseReturnValue:
    """Reverse the member's own last terminal booking (the one shown on their page)."""
    member = auth.current_member()
    raw_id = request.form.get("transaction_id", "").strip()
    transaction_id = int(raw_id) if _ID_RE.fullmatch(raw_id) else None
    if raw_id and (transaction_id is None or transaction_id > MAX_ID):
        flash(_undo_message(undo.NOT_OWN), "error")  # no such entry can exist
        return redirect(url_for("web.index"))
    window = timedelta(seconds=i18n.system().undo_window_seconds)
    with attempt(errors=UndoRefused, message=_undo_error) as outcome:
        undo.undo_last_terminal_booking(
            db_session(), member, utcnow(), window, auth.current_actor(), transaction_id
        )
    if outcome.ok:
        flash(_("Die Buchung wurde zurückgenommen."), "success")
    return redirect(url_for("web.index"))


@bp.route("/notifications", methods=["GET", "POST"])
@auth.login_required_rule
def notifications() -> ResponseReturnValue:
    """Which e-mails the member wants, and their own low-balance threshold."""
    member = auth.current_member()
    form = NotificationsForm()
    if request.method == "GET":
        form.notify_bookings.data = member.notify_bookings
        form.notify_zero.data = member.notify_zero
        form.notify_low_balance.data = member.notify_low_balance
        form.threshold.data = i18n.amount_input(member.low_balance_threshold_cents)
    if form.validate_on_submit():
        with attempt(form) as outcome:
            raw = (form.threshold.data or "").strip()
            threshold = i18n.parse_money(raw, field="threshold") if raw else None
            preferences.update(
                db_session(),
                member,
                preferences.NotificationPrefs(
                    bool(form.notify_bookings.data),
                    bool(form.notify_zero.data),
                    bool(form.notify_low_balance.data),
                    threshold,
                ),
                auth.current_actor(),
            )
        if outcome.ok:
            flash(_("Benachrichtigungen gespeichert."), "success")
            return redirect(url_for("web.me.notifications"))
    status = 400 if form.errors else 200
    return render_template("web/me/notifications.html", form=form, member=member), status


# --- QR codes ---------------------------------------------------------------------------


@bp.get("/qr")
@auth.login_required_rule
def qr_codes() -> ResponseReturnValue:
    member = auth.current_member()
    return render_template(
        "web/me/qr.html",
        member=member,
        book=qr.content(member.code, qr.BOOK),
        balance=qr.content(member.code, qr.BALANCE),
    )


def _png(kind: str) -> Response:
    code = auth.current_member().code
    response = Response(qr.png(code, kind), mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="fvh-{code}-{kind}.png"'
    return response


@bp.get("/qr/book.png")
@auth.login_required_rule
def qr_book_png() -> ResponseReturnValue:
    return _png(qr.BOOK)


@bp.get("/qr/balance.png")
@auth.login_required_rule
def qr_balance_png() -> ResponseReturnValue:
    return _png(qr.BALANCE)


@bp.get("/qr/card.pdf")
@auth.login_required_rule
def qr_card() -> ResponseReturnValue:
    member = auth.current_member()
    words = {
        "title": _("QR-Karte"),
        "book": _("Buchen"),
        "balance": _("Guthaben"),
        "cut": _("Entlang der Linie ausschneiden."),
    }
    body = qr.card_pdf(member.code, member.full_name, i18n.system().organisation_name, words)
    return _download(body, "application/pdf", f"fvh-{member.code}-qr.pdf")


# --- Statements and chart data ----------------------------------------------------------


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _zone() -> ZoneInfo:
    """The configured local zone (zoneinfo: flask-babel's pytz zones need localize())."""
    return ZoneInfo(app_config().timezone)


# Statement dates outside these years are typing errors (as the journal's filter says).
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _local_day_start(day: date) -> datetime:
    """Local midnight of `day` as naive UTC (how times are stored)."""
    local = datetime.combine(day, time.min, tzinfo=_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


# A refused period is shown at its field in the statement's form again (not a bare 400).
STATEMENT_FORM = "web/me/statement.html"


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise FieldRefused(_("Kein gültiges Datum."), name, STATEMENT_FORM) from exc
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise FieldRefused(
            _(
                "Das Datum muss zwischen %(first)d und %(last)d liegen.",
                first=FIRST_YEAR,
                last=LAST_YEAR,
            ),
            name,
            STATEMENT_FORM,
        )
    return day


# The most entries one statement shows: a PDF costs about a millisecond of CPU per line.
PDF_MAX_LINES = 2_000
CSV_MAX_LINES = 50_000
# Statement downloads per member (PDF and CSV together): a person takes a few; a script
# that downloads again and again would keep a server process busy rendering.
DOWNLOAD_LIMIT = "10 per minute"


def _count_download() -> None:
    """Count one statement download of the member, before any work for it; over the limit
    it is a 429 (the GUI's page says to wait). Counted in the limiter's store, which every
    worker shares."""
    strategy = current_app.extensions["fvh_limiter"].limiter
    if not strategy.hit(parse(DOWNLOAD_LIMIT), "statement", str(auth.current_member().id)):
        raise TooManyRequests()


def _statement(max_lines: int) -> statements.Statement:
    """The member's statement, limited by `?from=` and `?to=` (local dates, both included);
    a period with more than `max_lines` entries is refused with a message."""
    _count_download()
    first, last = _date_arg("from"), _date_arg("to")
    if first and last and first > last:
        message = _(
            "„bis“ liegt vor „von“. Bitte ein Datum ab dem %(first)s wählen.",
            first=i18n.local_date(first),
        )
        raise FieldRefused(message, "to", STATEMENT_FORM)
    try:
        return statements.build(
            db_session(),
            auth.current_member(),
            _local_day_start(first) if first else None,
            _local_day_start(last + timedelta(days=1)) if last else None,
            max_lines=max_lines,
        )
    except statements.TooManyLines as exc:
        raise RequestRefused(i18n.error_text(exc)) from exc


def _filename(statement: statements.Statement, extension: str) -> str:
    return f"fvh-{statement.member_code}-statement.{extension}"


@bp.get("/statement.csv")
@auth.login_required_rule
@heavy.one_at_a_time("statement")
def statement_csv() -> ResponseReturnValue:
    statement = _statement(CSV_MAX_LINES)
    headers = (_("Zeit"), _("Betrag"), _("Beschreibung"), _("Gebucht von"), _("Kontostand"))
    body = statements.to_csv(statement, headers, i18n.money, _zone())
    return _download(body, "text/csv; charset=utf-8", _filename(statement, "csv"))


@bp.get("/statement.pdf")
@auth.login_required_rule
@heavy.one_at_a_time("statement")
def statement_pdf() -> ResponseReturnValue:
    statement = _statement(PDF_MAX_LINES)
    words = {
        "title": _("Kontoauszug"),
        "period": _("Zeitraum"),
        "all": _("alle Buchungen"),
        "opening": _("Anfangsstand"),
        "closing": _("Endstand"),
        "time": _("Zeit"),
        "description": _("Beschreibung"),
        "booked_by": _("Gebucht von"),
        "amount": _("Betrag"),
        "balance": _("Kontostand"),
        "none": _("Keine Buchungen."),
    }
    organisation = i18n.system().organisation_name
    body = statements.to_pdf(
        statement, words, i18n.money, _zone(), organisation, locale=i18n.locale_name()
    )
    return _download(body, "application/pdf", _filename(statement, "pdf"))


@bp.get("/chart.json")
@auth.login_required_rule
def chart_data() -> ResponseReturnValue:
    """The member's balance over time and consumption per week and month, for the charts."""
    member = auth.current_member()
    session = db_session()
    system = i18n.system()
    history = statements.balance_history(session, member)
    used = statements.consumption(session, member, utcnow(), _zone())
    data: dict[str, Any] = {
        "currency": system.currency,
        "decimals": system.decimals,
        "balance": [
            {"t": int(at.replace(tzinfo=UTC).timestamp() * 1000), "cents": cents}
            for at, cents in history
        ],
        "week": [{"label": label, "cents": cents} for label, cents in used["week"]],
        "month": [{"label": label, "cents": cents} for label, cents in used["month"]],
    }
    return jsonify(data)
