"""Bookings: manual and bulk bookings, reversal, the journal (with CSV) and its deletion."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from babel.numbers import format_decimal
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, ngettext, to_utc
from flask_babel import gettext as _

from fvh.core import form_tokens, ledger, members
from fvh.core.errors import DomainError, MemberNotFound, NotFound, ValidationError
from fvh.db.models import Member, Transaction
from fvh.http.context import db_session
from fvh.http.routing import parse_id
from fvh.web import i18n
from fvh.web.admin import bp, confirmation, member_field
from fvh.web.admin.members import member_or_404, render_member
from fvh.web.auth import admin_required, current_actor, current_member
from fvh.web.forms import BookingForm, BulkBookingForm, MemberBookingForm
from fvh.web.outcome import attempt
from fvh.web.paging import current_pager
from fvh.web.views import safe_next

DELETE_ALL_WORD = "ALLE"
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# The sign each kind of booking gives the amount typed without one.
KIND_SIGNS = {"deposit": 1, "credit": 1, "debit": -1}


def parse_booking_amount(form: BookingForm, text: str | None = None) -> int:
    """The amount of a booking form, signed by its kind when it has one.

    A typed sign that agrees with the kind is fine ("-2,50" to deduct); one that contradicts
    it ("-5" as a deposit) is refused rather than guessed. Without a kind the typed sign holds.
    """
    cents = i18n.parse_money(form.amount.data if text is None else text)
    kind = getattr(form, "kind", None)
    if kind is None or not kind.data:
        return cents
    sign = KIND_SIGNS.get(kind.data)
    if sign is None or kind.data not in {choice.value for choice in kind.choices}:
        raise ValidationError(_("Bitte eine Art wählen."), "kind")
    if cents < 0 < sign:
        raise ValidationError(
            _("Bitte ohne Vorzeichen: die Art sagt, ob gutgeschrieben oder abgezogen wird."),
            "amount",
        )
    return sign * abs(cents)


def _member_booking(form: MemberBookingForm) -> tuple[int, str]:
    """The signed amount and the text of a member booking: the kind gives the sign.

    A preset counts when no amount was typed. Without a kind the typed sign holds.
    """
    text = (form.amount.data or "").strip() or (form.preset.data or "").strip()
    if not text:
        raise ValidationError(_("Bitte einen Betrag angeben."), "amount")
    cents = parse_booking_amount(form, text)
    description = (form.description.data or "").strip()
    if form.kind.data == "deposit" and not description:
        description = _("Einzahlung")
    return cents, description


@bp.post("/members/<int:member_id>/book")
@admin_required
def member_book(member_id: int) -> ResponseReturnValue:
    """A deposit or a correction for one member, once per form (see `form_tokens`)."""
    member = member_or_404(member_id)
    form = MemberBookingForm()
    if not form.validate_on_submit():
        return render_member(member, booking_form=form, status=400)
    session = db_session()
    with attempt(form) as outcome:
        cents, description = _member_booking(form)
        form_tokens.use(session, current_member().id, form.form_token.data or "")
        booking = ledger.book(session, member.id, cents, description, current_actor())
    if isinstance(outcome.error, form_tokens.AlreadySubmitted):
        # A double click: the first one booked; show the page it would have shown.
        return redirect(url_for("admin.member_detail", member_id=member.id), code=303)
    if not outcome.ok:
        return render_member(member, booking_form=form, status=400)
    flash(
        _(
            "Gebucht: %(amount)s. Neues Guthaben: %(balance)s.",
            amount=i18n.money(booking.amount_cents),
            balance=i18n.money(booking.balance_cents),
        ),
        "success",
    )
    return redirect(url_for("admin.member_detail", member_id=member.id))


@bp.route("/bookings/bulk", methods=["GET", "POST"])
@admin_required
def bulk_booking() -> ResponseReturnValue:
    """The same booking for many members at once, all or nothing, after a preview.

    The first POST shows what will be booked ("4 Mitglieder × -7,50 € = -30,00 €"); its
    confirmation books, once per form. Admins are listed only when asked for (`admins=1`)
    or already chosen: "select all" should not book the treasurer's own account.
    """
    session = db_session()
    form = BulkBookingForm()
    if request.method == "GET":
        form.kind.data = "debit"  # what a bulk booking mostly is: a share of the costs
    selected = set()
    for raw in request.form.getlist("member_ids"):
        try:
            selected.add(parse_id(raw))
        except ValueError:
            abort(400)
    selected.discard(None)
    confirm = confirmation.Confirmation()
    if form.validate_on_submit() and not confirmation.going_back():
        with attempt(form, message=_bulk_error) as outcome:
            if not selected:
                raise ValidationError(_("Bitte mindestens ein Mitglied auswählen."), "members")
            cents = parse_booking_amount(form)
            if confirm.given():
                form_tokens.use(session, current_member().id, form.form_token.data or "")
                bookings = ledger.book_many(
                    session, selected, cents, form.description.data, current_actor()
                )
            else:
                chosen = _chosen_members(selected)
        if isinstance(outcome.error, form_tokens.AlreadySubmitted):
            return redirect(url_for("admin.journal"), code=303)
        if outcome.ok and confirm.given():
            flash(
                ngettext(
                    "%(num)d Buchung ausgeführt.", "%(num)d Buchungen ausgeführt.", len(bookings)
                ),
                "success",
            )
            return redirect(url_for("admin.journal"))
        if outcome.ok:
            return _bulk_preview(form, chosen, cents, confirm)

    everyone = members.search(session, sort="name", limit=None).rows
    show_admins = request.values.get("admins") == "1"
    everyone = [m for m in everyone if show_admins or not m.is_admin or m.id in selected]
    status = 400 if request.method == "POST" and not confirmation.going_back() else 200
    return render_template(
        "web/admin/bulk.html",
        form=form,
        members=everyone,
        selected=selected,
        show_admins=show_admins,
    ), status


def _chosen_members(selected: set[int]) -> list[Member]:
    """The members a bulk booking is for, by name; one gone meanwhile refuses it all."""
    everyone = members.search(db_session(), sort="name", limit=None).rows
    chosen = [m for m in everyone if m.id in selected]
    if len(chosen) != len(selected):
        raise MemberNotFound("a selected member does not exist")
    return chosen


def _bulk_preview(
    form: BulkBookingForm, chosen: list[Member], cents: int, confirm: confirmation.Confirmation
) -> ResponseReturnValue:
    """The confirmation page of a bulk booking: count × amount = total, and who."""
    summary = ngettext(
        "%(num)d Mitglied × %(amount)s = %(total)s",
        "%(num)d Mitglieder × %(amount)s = %(total)s",
        len(chosen),
        amount=i18n.money(cents),
        total=i18n.money(cents * len(chosen)),
    )
    fields = [
        ("kind", form.kind.data or ""),
        ("amount", form.amount.data or ""),
        ("description", form.description.data or ""),
        ("form_token", form.form_token.data or ""),
        *(("member_ids", str(m.id)) for m in chosen),
    ]
    if request.values.get("admins") == "1":
        fields.append(("admins", "1"))
    return confirm.ask(
        title=_("Sammelbuchung prüfen"),
        warning=_("%(summary)s – „%(text)s“", summary=summary, text=form.description.data),
        details=[
            _(
                "%(name)s (%(code)s): %(balance)s → %(after)s",
                name=m.full_name,
                code=m.code,
                balance=i18n.money(m.balance_cents),
                after=i18n.money(m.balance_cents + cents),
            )
            for m in chosen
        ],
        fields=fields,
        button=_("Jetzt buchen"),
        back=_("Ändern"),
        cancel_url=url_for("admin.bulk_booking"),
        danger=False,
    )


def _bulk_error(exc: DomainError) -> str | None:
    """A member deleted meanwhile gets its own message: nothing at all was booked."""
    if isinstance(exc, MemberNotFound):
        return _("Ein ausgewähltes Mitglied gibt es nicht mehr. Nichts wurde gebucht.")
    return None


@bp.post("/transactions/<int:transaction_id>/reverse")
@admin_required
def reverse(transaction_id: int) -> ResponseReturnValue:
    """Reverse a booking after the admin saw whose and how much (a counter-entry, once)."""
    target = request.form.get("next", "")
    confirm = confirmation.Confirmation()
    session = db_session()
    entry = session.get(Transaction, transaction_id)
    if entry is None:
        abort(404)
    # A reversal, or an entry reversed already, is refused by the ledger: no need to ask.
    settled = entry.reverses_id is not None or entry.id in ledger.reversed_among(
        session, [entry.id]
    )
    if not confirm.given() and not settled:
        return confirm.ask(
            title=_("Buchung stornieren"),
            warning=_(
                "Buchung #%(id)d von %(name)s über %(amount)s („%(text)s“) stornieren? "
                "Eine Gegenbuchung über %(counter)s wird angelegt.",
                id=entry.id,
                name=entry.member.full_name,
                amount=i18n.money(entry.amount_cents),
                text=entry.description,
                counter=i18n.money(-entry.amount_cents),
            ),
            button=_("Stornieren"),
            fields=[("next", target), ("entry", _fingerprint(entry))],
            cancel_url=safe_next(target, url_for("admin.journal")),
        )
    if confirm.given() and request.form.get("entry") != _fingerprint(entry):
        # On SQLite the id of a deleted member's entry can be given to a new one: the
        # admin confirmed another booking than this.
        flash(_("Diese Buchung hat sich geändert. Bitte erneut prüfen."), "error")
        return redirect(safe_next(target, url_for("admin.journal")))
    with attempt() as outcome:
        try:
            booking = ledger.reverse(db_session(), transaction_id, current_actor())
        except NotFound:
            abort(404)
    if outcome.ok:
        flash(
            _("Buchung storniert (%(amount)s).", amount=i18n.money(booking.amount_cents)), "success"
        )
    return redirect(safe_next(target, url_for("admin.journal")))


def _fingerprint(entry: Transaction) -> str:
    """What the admin saw of an entry when asked: whose, when and how much."""
    return f"{entry.member_id}:{entry.created_at.isoformat()}:{entry.amount_cents}"


# Journal dates outside these years are typing errors; the bounds also keep the +1 day of
# `to` and the conversion to UTC inside what Python and every backend can hold.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _parse_date(name: str, errors: dict[str, str]) -> date | None:
    """The local day in `?<name>=`; a bad one is noted in `errors` under the field's name."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Ungültiges Datum: %(value)s", value=raw[:20])
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors[name] = _(
            "Das Datum muss zwischen %(first)d und %(last)d liegen.",
            first=FIRST_YEAR,
            last=LAST_YEAR,
        )
        return None
    return day


@dataclass(frozen=True)
class JournalRequest:
    """The journal filter from the query string, and the form fields it found wrong.

    `candidates` are the members a name in the member field fits when it fits several.
    """

    query: ledger.JournalFilter
    member: Member | None
    args: dict[str, str]
    errors: dict[str, str]
    candidates: tuple[Member, ...] = ()


def journal_filter() -> JournalRequest:
    """The filter from the query string; dates are local days, turned into UTC bounds."""
    names = ("member", "q", "from", "to", "kind", "by", "by_kind")
    args = {k: request.args.get(k, "").strip()[:200] for k in names}
    choice = member_field.resolve(args["member"]) if args["member"] else member_field.MemberChoice()
    member, candidates = choice.member, choice.candidates
    if member is None and not candidates:
        args["member"] = ""
    errors: dict[str, str] = {}
    start, end = _parse_date("from", errors), _parse_date("to", errors)
    query = ledger.JournalFilter(
        member_id=member.id if member else None,
        text=args["q"][:100],
        date_from=to_utc(datetime.combine(start, time())) if start else None,
        date_to=to_utc(datetime.combine(end + timedelta(days=1), time())) if end else None,
        kind=args["kind"] if args["kind"] in ("credit", "debit") else "",
        booked_by=args["by"][:100],
        booked_by_kind=args["by_kind"] if args["by_kind"] in ledger.BOOKED_BY_KINDS else "",
    )
    if candidates:  # which one is meant is for the admin to say, not to guess
        errors["member"] = _("Mehrere Mitglieder passen; bitte eins auswählen.")
    return JournalRequest(query, member, args, errors, candidates)


@bp.get("/journal")
@admin_required
def journal() -> ResponseReturnValue:
    return _render_journal(journal_filter())


def _render_journal(found: JournalRequest) -> ResponseReturnValue:
    """The journal page; a wrong filter field gets its message and 400, not a guessed list."""
    pager = current_pager()
    if found.errors:
        page = ledger.JournalPage(rows=[], total=0, reversed_ids=frozenset())
    else:
        page = ledger.journal(db_session(), found.query, limit=pager.per_page, offset=pager.offset)
    return render_template(
        "web/admin/journal.html",
        entries=page.rows,
        reversed_ids=page.reversed_ids,
        pager=pager.with_total(page.total),
        member=found.member,
        candidates=found.candidates,
        args=found.args,
        errors=found.errors,
    ), 400 if found.errors else 200


def _csv_cell(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; a leading quote stops that."""
    return "'" + value if value.startswith(CSV_FORMULA_PREFIXES) else value


def _csv_rows(entries: list[Transaction]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    locale = str(get_locale())
    decimals = i18n.system().decimals
    pattern = "0." + "0" * decimals if decimals else "0"

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(
        [
            _("Nr."),
            _("Zeit"),
            _("Code"),
            _("Name"),
            _("Betrag"),
            _("Beschreibung"),
            _("Gebucht von"),
            _("Storno von Nr."),
        ]
    )
    yield "\ufeff" + flush()  # the BOM makes spreadsheet programs read UTF-8
    for entry in entries:
        writer.writerow(
            [
                entry.id,
                i18n.local_datetime(entry.created_at, "yyyy-MM-dd HH:mm:ss"),
                entry.member.code,
                _csv_cell(entry.member.full_name),
                format_decimal(Decimal(entry.amount_cents) / 100, format=pattern, locale=locale),
                _csv_cell(entry.description),
                _csv_cell(entry.booked_by_label),
                entry.reverses_id or "",
            ]
        )
        yield flush()


@bp.get("/journal.csv")
@admin_required
def journal_csv() -> ResponseReturnValue:
    found = journal_filter()
    if found.errors:
        return _render_journal(found)
    member = found.member
    entries = ledger.journal(db_session(), found.query, limit=None).rows
    name = f"journal-{member.code}.csv" if member else "journal.csv"
    # Rendered here, not streamed: the request's session closes when the view returns.
    body = "".join(_csv_rows(entries))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/journal/delete", methods=["GET", "POST"])
@admin_required
def journal_delete() -> ResponseReturnValue:
    """Delete one member's journal (`?member=<id>`) or everyone's, after a typed confirmation."""
    try:
        member_id = parse_id(request.args.get("member"))
    except ValueError:
        abort(400)  # never fall back to "everyone" on a garbled member id
    member = member_or_404(member_id) if member_id is not None else None
    expected = member.code if member else DELETE_ALL_WORD
    confirm = confirmation.Confirmation(
        expected, _("Bitte genau %(word)s eingeben.", word=expected)
    )
    if confirm.given():
        session = db_session()
        deleted = ledger.delete_journal(session, current_actor(), member)
        session.commit()
        done = ngettext(
            "%(num)d Buchung gelöscht, Guthaben auf 0 gesetzt.",
            "%(num)d Buchungen gelöscht, Guthaben auf 0 gesetzt.",
            deleted,
        )
        flash(done, "success")
        if member:
            return redirect(url_for("admin.member_detail", member_id=member.id))
        return redirect(url_for("admin.journal"))
    if member:
        warning = _(
            "Alle Buchungen von %(name)s werden gelöscht und das Guthaben (%(balance)s) auf 0 "
            "gesetzt. Das lässt sich nicht rückgängig machen.",
            name=member.full_name,
            balance=i18n.money(member.balance_cents),
        )
        cancel = url_for("admin.member_detail", member_id=member.id)
    else:
        warning = _(
            "Alle Buchungen aller Mitglieder werden gelöscht und alle Guthaben (Summe: "
            "%(total)s) auf 0 gesetzt. Das lässt sich nicht rückgängig machen.",
            total=i18n.money(ledger.total_balance(db_session())),
        )
        cancel = url_for("admin.journal")
    return confirm.ask(
        title=_("Buchungen löschen"),
        warning=warning,
        cancel_url=cancel,
        export_url=deletion_export_url(member),
    )


def deletion_export_url(member: Member | None) -> str:
    """The CSV of exactly the entries a journal deletion removes: the member's, or all."""
    if member is not None:
        return url_for("admin.journal_csv", member=member.code)
    return url_for("admin.journal_csv")
