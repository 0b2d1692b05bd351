"""Domain parts of the member self-service: passwords, notification choices, statements, QR."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdf
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from fvh.core import audit, ledger, members, passwords, pdf, preferences, qr, statements, undo
from fvh.core.errors import ValidationError
from fvh.core.money import format_cents
from fvh.db.models import AuditEntry, Member, utcnow

ACTOR = audit.Actor.system("tests")
TERMINAL = audit.Actor("api_key", "Terminal Theke")
BERLIN = ZoneInfo("Europe/Berlin")


def decode(image: Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image)]


# --- passwords ----------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["qwertyuiop", "Password123", "1q2w3e4r5t", "MANCHESTER"])
def test_common_passwords_are_refused_in_any_case(password):
    with pytest.raises(ValidationError) as caught:
        passwords.validate(password)
    assert caught.value.field == "password"


def test_uncommon_passwords_of_10_to_128_characters_pass():
    for password in ("FEUERWEHR-112", "x" * 10 + "y", "lang" * 32):
        assert passwords.validate(password) == password


@pytest.mark.parametrize("password", ["kurz", "x" * 129])
def test_password_length_is_10_to_128(password):
    with pytest.raises(ValidationError) as caught:
        passwords.validate(password)
    assert "10 bis 128" in caught.value.message


def test_the_shipped_list_is_large_and_lower_case():
    assert passwords.is_common("PASSWORD")
    assert passwords.is_common("  iloveyou ")
    assert not passwords.is_common("richtig-geheim-42")
    listed = passwords._common_passwords()
    assert len(listed) > 25_000
    assert all(word == word.lower() for word in listed)


def test_every_password_setting_path_refuses_common_ones(database, build):
    member = build.member(code="6000000006")
    with database.session() as session, pytest.raises(ValidationError):
        members.set_password(session, session.get(Member, member.id), "qwertyuiop", ACTOR)
    with database.session() as session, pytest.raises(ValidationError):
        members.create(session, members.NewMember("A", "B", password="1234567890"), ACTOR)


# --- notification choices -----------------------------------------------------------------


def _prefs(**changes) -> preferences.NotificationPrefs:
    values = {
        "notify_bookings": False,
        "notify_zero": False,
        "notify_low_balance": False,
        "low_balance_threshold_cents": None,
        **changes,
    }
    return preferences.NotificationPrefs(**values)


def test_notification_choices_are_stored_and_audited(database, build):
    member = build.member(code="6000000006", email="eva@example.org")
    with database.session() as session:
        row = session.get(Member, member.id)
        changed = preferences.update(
            session, row, _prefs(notify_low_balance=True, low_balance_threshold_cents=500), ACTOR
        )
        assert changed
        assert not preferences.update(session, row, preferences.of(row), ACTOR)
    with database.session() as session:
        row = session.get(Member, member.id)
        assert (row.notify_low_balance, row.low_balance_threshold_cents) == (True, 500)
        actions = session.scalars(select(AuditEntry.action)).all()
        assert actions.count("member.notifications") == 1


@pytest.mark.parametrize(
    ("email", "prefs", "field"),
    [
        (None, _prefs(notify_bookings=True), "notify_bookings"),
        ("a@example.org", _prefs(notify_low_balance=True), "threshold"),
        ("a@example.org", _prefs(low_balance_threshold_cents=10**12), "threshold"),
    ],
)
def test_invalid_notification_choices_change_nothing(database, build, email, prefs, field):
    member = build.member(code="6000000006", email=email)
    with database.session() as session:
        row = session.get(Member, member.id)
        with pytest.raises(ValidationError) as caught:
            preferences.update(session, row, prefs, ACTOR)
        assert caught.value.field == field
        assert preferences.of(row) == _prefs()


# --- statements ---------------------------------------------------------------------------


@pytest.fixture
def history(database, build) -> Member:
    """A member with a deposit, two taps (one undone) and an admin correction."""
    member = build.member(code="7000000007", first_name="Jörg", last_name="Ärmel")
    with database.session() as session:
        row = session.get(Member, member.id)
        ledger.book(session, row.id, 2000, "Einzahlung", ACTOR)
        ledger.debit_at_terminal(session, row, "=HYPERLINK(1)", TERMINAL)
        ledger.debit_at_terminal(session, row, "Getränk", TERMINAL)
        undo.undo_last_terminal_booking(session, row, utcnow(), timedelta(minutes=2), ACTOR, None)
        ledger.book(session, row.id, -50, "Korrektur", ACTOR)
    return member


def money(cents: int) -> str:
    return format_cents(cents, "EUR", 2, "de")


def test_statement_has_running_balance(database, history):
    with database.session() as session:
        statement = statements.build(session, session.get(Member, history.id))
    assert [line.amount_cents for line in statement.lines] == [2000, -100, -100, 100, -50]
    assert [line.balance_cents for line in statement.lines] == [2000, 1900, 1800, 1900, 1850]
    assert (statement.opening_balance_cents, statement.closing_balance_cents) == (0, 1850)


def test_statement_date_range_carries_the_opening_balance(database, history):
    with database.session() as session:
        member = session.get(Member, history.id)
        later = statements.build(session, member, date_from=utcnow() + timedelta(hours=1))
        earlier = statements.build(session, member, date_to=utcnow() - timedelta(hours=1))
    assert (later.opening_balance_cents, later.closing_balance_cents, later.lines) == (
        1850,
        1850,
        [],
    )
    assert (earlier.opening_balance_cents, earlier.closing_balance_cents) == (0, 0)


def test_statement_csv(database, history):
    with database.session() as session:
        statement = statements.build(session, session.get(Member, history.id))
    body = statements.to_csv(statement, ("Zeit", "Betrag", "Text", "Von", "Stand"), money, BERLIN)
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Zeit", "Betrag", "Text", "Von", "Stand"]
    assert len(rows) == 6
    assert rows[1][1:] == [money(2000), "Einzahlung", "tests", money(2000)]
    assert rows[2][2] == "'=HYPERLINK(1)"  # no formula for spreadsheet programs
    assert rows[-1][4] == money(1850)
    datetime.strptime(rows[1][0], "%Y-%m-%d %H:%M")


WORD_KEYS = ("title", "period", "all", "opening", "closing", "time", "description")
WORDS = {key: key.upper() for key in (*WORD_KEYS, "booked_by", "amount", "balance", "none")}


def pdf_text(body: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_statement_pdf(database, history):
    with database.session() as session:
        statement = statements.build(session, session.get(Member, history.id))
    body = statements.to_pdf(statement, WORDS, money, BERLIN, "Feuerwehr Süd")
    assert body.startswith(b"%PDF-")
    text = pdf_text(body)
    for expected in ("TITLE", "Feuerwehr Süd", "Jörg Ärmel (7000000007)", "Einzahlung", "ALL"):
        assert expected in text
    assert "CLOSING: 18,50" in text


def test_statement_pdf_of_many_entries_has_pages(database, build):
    member = build.member(code="7000000008")
    with database.session() as session:
        for n in range(120):
            ledger.book(session, member.id, 100 + n, f"Einzahlung {n}", ACTOR)
        statement = statements.build(session, session.get(Member, member.id))
    reader = pypdf.PdfReader(io.BytesIO(statements.to_pdf(statement, WORDS, money, BERLIN, "F")))
    assert len(reader.pages) >= 3


def test_balance_history_counts_back_from_the_balance(database, history):
    with database.session() as session:
        points = statements.balance_history(session, session.get(Member, history.id))
    assert [cents for _at, cents in points] == [2000, 1900, 1800, 1900, 1850]


def test_consumption_counts_terminal_debits_not_undone(database, history):
    with database.session() as session:
        used = statements.consumption(
            session, session.get(Member, history.id), utcnow(), BERLIN, periods=4
        )
    assert len(used["week"]) == len(used["month"]) == 4
    assert used["week"][-1][1] == 100  # two taps, one undone; deposits and corrections not
    assert used["month"][-1][1] == 100
    assert sum(cents for _label, cents in used["week"][:-1]) == 0
    now = datetime.now(UTC).astimezone(BERLIN)
    assert used["month"][-1][0] == f"{now.year}-{now.month:02d}"
    assert used["week"][-1][0] == f"{now.isocalendar().year}-W{now.isocalendar().week:02d}"


def test_pdf_text_keeps_german_and_simplifies_the_rest():
    assert pdf.pdf_text("Größe – 1,00 €") == "Größe – 1,00 €"
    assert pdf.pdf_text("Şahin Łukasz 日本") == "Sahin ?ukasz ??"


# --- QR codes -----------------------------------------------------------------------------


def test_qr_content_is_code_and_one_letter():
    assert qr.content("2000000002", qr.BOOK) == "2000000002a"
    assert qr.content("2000000002", qr.BALANCE) == "2000000002k"
    with pytest.raises(ValidationError):
        qr.content("12345", qr.BOOK)
    with pytest.raises(ValueError, match="unknown QR kind"):
        qr.content("2000000002", "other")


@pytest.mark.parametrize(
    ("kind", "expected"), [(qr.BOOK, "0123456789a"), (qr.BALANCE, "0123456789k")]
)
def test_qr_png_decodes_to_the_exact_content(kind, expected):
    image = Image.open(io.BytesIO(qr.png("0123456789", kind)))
    assert decode(image) == [expected]


def test_qr_card_pdf_holds_both_codes():
    words = {"title": "Karte", "book": "Buchen", "balance": "Guthaben", "cut": "Schneiden"}
    body = qr.card_pdf("0123456789", "Jörg Ärmel", "Feuerwehr Süd", words)
    page = pypdf.PdfReader(io.BytesIO(body)).pages[0]
    found = sorted(text for image in page.images for text in decode(image.image))
    assert found == ["0123456789a", "0123456789k"]
    text = page.extract_text()
    assert "Jörg Ärmel · 0123456789" in text
    assert "Buchen" in text and "Guthaben" in text
