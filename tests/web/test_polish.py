"""Polish of the GUI (issue 13, item 7): one date format, plurals, error pages in the UI
language, the statement period refused at its field, the QR card with a long name, the undo
box as an offer, the phone's header and member page (the CSS), through the real app."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from html import unescape

import pypdf
import pytest

from fvh.core import ledger, qr, system_settings
from fvh.db.models import Transaction
from tests.builders import TEST_ACTOR
from tests.web.conftest import Browser

# 13:05 UTC is 14:05 in Berlin (winter time).
BOOKED_AT = datetime(2026, 11, 27, 13, 5)
GERMAN_TIME = "27.11.2026, 14:05"
ENGLISH_TIME = "Nov 27, 2026, 2:05\u202fPM"


def book_at(database, member, cents: int, text: str, when: datetime) -> int:
    """A booking whose time is `when` (UTC), so pages show a known time."""
    with database.session() as session:
        booking = ledger.book(session, member.id, cents, text, TEST_ACTOR)
        session.get(Transaction, booking.transaction_id).created_at = when
    return booking.transaction_id


def english(browser: Browser) -> None:
    browser.post("/language", {"language": "en", "next": "/"})


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


# --- One date format ------------------------------------------------------------------------


def test_pages_show_the_locales_date_and_time(member_browser, admin_browser, database, member):
    book_at(database, member, 2000, "Einzahlung", BOOKED_AT)
    page = text_of(member_browser.get("/"))
    assert GERMAN_TIME in page
    assert "27.11.26" not in page  # not Babel's short date with a two-digit year
    english(member_browser)
    assert ENGLISH_TIME in text_of(member_browser.get("/"))


def test_admin_pages_use_the_same_format(admin_browser, database, member):
    book_at(database, member, 2000, "Einzahlung", BOOKED_AT)
    assert GERMAN_TIME in text_of(admin_browser.get(f"/admin/members/{member.id}"))
    assert GERMAN_TIME in text_of(admin_browser.get("/admin/journal"))


def statement_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))


def pdf_text(response) -> str:
    assert response.mimetype == "application/pdf", response.get_data(as_text=True)[:300]
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_statement_pdf_is_for_people_and_csv_for_spreadsheets(member_browser, database, member):
    book_at(database, member, 2000, "Einzahlung", BOOKED_AT)
    period = "from=2026-11-01&to=2026-11-30"
    text = pdf_text(member_browser.get(f"/me/statement.pdf?{period}"))
    assert GERMAN_TIME in text
    assert "01.11.2026 – 30.11.2026" in text
    assert "2026-11-27" not in text
    # The CSV keeps ISO in the local zone, which spreadsheet programs read in any language.
    rows = statement_rows(member_browser.get(f"/me/statement.csv?{period}"))
    assert rows[1][0] == "2026-11-27 14:05"

    english(member_browser)
    text = pdf_text(member_browser.get(f"/me/statement.pdf?{period}"))
    assert "Nov 27, 2026, 2:05 PM" in text  # the narrow space becomes a space in the PDF
    assert "Nov 1, 2026 – Nov 30, 2026" in text
    assert statement_rows(member_browser.get(f"/me/statement.csv?{period}"))[1][0] == (
        "2026-11-27 14:05"
    )


# --- Plurals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "german", "english_text"),
    [
        (1, "1 Buchung gelöscht, Guthaben auf 0 gesetzt.", "1 booking deleted, balance set to 0."),
        (
            2,
            "2 Buchungen gelöscht, Guthaben auf 0 gesetzt.",
            "2 bookings deleted, balance set to 0.",
        ),
    ],
)
def test_deleted_bookings_are_counted_in_the_right_plural(
    admin_browser, build, database, entries, german, english_text
):
    for language, expected in (("de", german), ("en", english_text)):
        member = build.member(code=f"300000000{3 if language == 'de' else 4}")
        for n in range(entries):
            book_at(database, member, 100, f"Einzahlung {n}", BOOKED_AT)
        admin_browser.post("/language", {"language": language, "next": "/"})
        url = f"/admin/journal/delete?member={member.id}"
        response = admin_browser.post(
            url, {"confirmation": member.code}, page=url, follow_redirects=True
        )
        assert expected in text_of(response)


# --- Error pages ------------------------------------------------------------------------------


def assert_styled(response, status: int, *texts: str) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = text_of(response)
    assert "fvh.css" in html and 'class="card narrow error-page"' in html
    for text in texts:
        assert text in html, text
    return html


def test_unknown_gui_address_is_a_styled_404_in_the_ui_language(member_browser):
    assert_styled(
        member_browser.get("/gibt/es/nicht"),
        404,
        "Seite nicht gefunden",
        "Diese Seite gibt es nicht.",
        "Fehler 404",
        'lang="de"',
    )
    assert_styled(member_browser.get("/admin/nichts"), 404, "Seite nicht gefunden")
    english(member_browser)
    html = assert_styled(
        member_browser.get("/gibt/es/nicht"), 404, "Page not found", "Error 404", 'lang="en"'
    )
    assert "Seite nicht gefunden" not in html


def test_anonymous_visitors_get_the_styled_404_too(client):
    assert_styled(client.get("/nirgendwo"), 404, "Seite nicht gefunden")


def test_the_api_keeps_its_json_errors(client):
    response = client.get("/api/gibt-es-nicht")
    assert response.status_code == 404
    assert response.is_json and "error" in response.get_json()


def test_a_wrong_method_is_a_styled_405_with_allow(member_browser):
    response = member_browser.client.delete("/me/notifications")
    assert_styled(response, 405, "Nicht möglich", "Diese Aktion ist so nicht möglich.")
    assert "GET" in response.headers["Allow"]


def test_bad_requests_are_a_styled_400_in_both_languages(member_browser):
    html = assert_styled(member_browser.get("/?page=9999999"), 400, "Ungültige Anfrage")
    assert "Die Seitenzahl darf höchstens 1000000 sein." in html
    english(member_browser)
    assert_styled(member_browser.get("/?page=9999999"), 400, "Bad request", "Error 400")


def test_forbidden_is_a_styled_403(member_browser):
    assert_styled(member_browser.get("/admin/"), 403, "Kein Zugriff")
    english(member_browser)
    assert_styled(member_browser.get("/admin/"), 403, "Access denied")


@pytest.fixture
def failing_home(app, monkeypatch):
    """The member's page fails inside its view, as a bug would (a real 500, not an abort)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # the test config re-raises, a server does not

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the journal")

    monkeypatch.setattr(ledger, "journal", broken)


def test_a_server_error_is_a_styled_500_in_both_languages(member_browser, failing_home):
    html = assert_styled(member_browser.get("/"), 500, "Interner Fehler", "Fehler 500")
    assert "Auf dem Server ist ein Fehler aufgetreten." in html
    assert "Traceback" not in html and "RuntimeError" not in html
    assert "Mein Konto" in html  # in the page's frame, with the menu
    english(member_browser)
    assert_styled(member_browser.get("/"), 500, "Internal error", "Something went wrong")


def test_a_server_error_whose_frame_fails_is_still_a_page(
    member_browser, failing_home, monkeypatch
):
    def unreadable(_session):
        raise RuntimeError("the settings cannot be read")

    monkeypatch.setattr(system_settings, "load", unreadable)
    html = assert_styled(member_browser.get("/"), 500, "Interner Fehler")
    assert "Mein Konto" not in html  # the plain page, without the frame that failed


# --- The statement's period is refused at its field ---------------------------------------------


def field_error(html: str, name: str) -> str:
    match = re.search(rf'id="statement-{name}-error">([^<]*)<', html)
    assert match, f"no message at the field {name}"
    return match.group(1)


@pytest.mark.parametrize("kind", ["csv", "pdf"])
def test_a_statement_with_from_after_to_is_refused_at_the_field(member_browser, kind):
    response = member_browser.get(f"/me/statement.{kind}?from=2026-11-27&to=2026-11-01")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    html = text_of(response)
    assert field_error(html, "to") == (
        "„bis“ liegt vor „von“. Bitte ein Datum ab dem 27.11.2026 wählen."
    )
    assert 'name="from" value="2026-11-27"' in html and 'name="to" value="2026-11-01"' in html
    assert 'aria-invalid="true" aria-describedby="statement-to-error"' in html
    assert "statement-from-error" not in html

    english(member_browser)
    html = text_of(member_browser.get(f"/me/statement.{kind}?from=2026-11-27&to=2026-11-01"))
    assert (
        field_error(html, "to")
        == "“to” is before “from”. Please choose a date from Nov 27, 2026 on."
    )


def test_a_statement_with_a_bad_date_is_refused_at_its_field(member_browser):
    response = member_browser.get("/me/statement.csv?from=gestern&to=2026-11-01")
    assert response.status_code == 400
    assert field_error(text_of(response), "from") == "Kein gültiges Datum."
    response = member_browser.get("/me/statement.csv?to=3026-11-01")
    assert field_error(text_of(response), "to") == "Das Datum muss zwischen 1900 und 2999 liegen."


def test_a_good_period_still_downloads(member_browser):
    response = member_browser.get("/me/statement.csv?from=2026-11-01&to=2026-11-01")
    assert response.status_code == 200 and response.mimetype == "text/csv"


# --- The QR card with a long organisation name -----------------------------------------------

PT_TO_MM = 25.4 / 72


def drawn_texts(body: bytes) -> list[tuple[str, float, float, float, bool]]:
    """(text, x, y from the top, width, bold) in mm of every text the card's page draws."""
    from fpdf import FPDF

    measure = FPDF()
    measure.core_fonts_encoding = "windows-1252"  # as the app's documents (fvh.core.pdf)
    measure.add_page()
    page = pypdf.PdfReader(io.BytesIO(body)).pages[0]
    height_mm = float(page.mediabox.height) * PT_TO_MM
    found = []

    def visit(text, cm, tm, font, size):
        if not text.strip():
            return
        bold = "Bold" in str(font.get("/BaseFont", "")) if font else False
        scale = cm[0] if cm[0] else 1
        measure.set_font("helvetica", "B" if bold else "", size * tm[0] * scale)
        x = (tm[4] * cm[0] + cm[4]) * PT_TO_MM
        y = height_mm - (tm[5] * cm[3] + cm[5]) * PT_TO_MM
        found.append((text.strip(), x, y, measure.get_string_width(text.strip()), bold))

    page.extract_text(visitor_text=visit)
    return found


def assert_inside_the_card(body: bytes) -> str:
    """Every text on the card lies within its cut line; returns the (bold) heading."""
    texts = drawn_texts(body)
    left, top = qr.CARD_LEFT_MM, qr.CARD_TOP_MM
    right, bottom = left + qr.CARD_WIDTH_MM, top + qr.CARD_HEIGHT_MM
    on_card = [t for t in texts if top < t[2] < bottom]
    assert on_card, texts
    for text, x, _y, width, _bold in on_card:
        assert left < x and x + width < right, f"{text!r} leaves the card: {x:.1f}+{width:.1f}"
    return " ".join(text for text, _x, _y, _w, bold in on_card if bold)  # the heading


def test_a_120_character_organisation_name_stays_inside_the_card():
    organisation = (
        "Freiwillige Feuerwehr der Verbandsgemeinde Musterstadt-Nord, "
        "Löschzug Oberdorf und Jugendfeuerwehr Unterdorf-Süd e. V. 1891"
    )[:120]
    assert len(organisation) == 120
    words = {"title": "Karte", "book": "Buchen", "balance": "Guthaben", "cut": "Schneiden"}
    body = qr.card_pdf("0123456789", "Jörg Ärmel", organisation, words)
    heading = assert_inside_the_card(body)
    assert heading.replace(" ", "").startswith(organisation.replace(" ", "")), heading
    text = pypdf.PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert "Jörg Ärmel · 0123456789" in text


def test_an_even_longer_name_is_cut_with_an_ellipsis_inside_the_card():
    organisation = "Feuerwehr " * 40
    words = {"title": "Karte", "book": "Buchen", "balance": "Guthaben", "cut": "Schneiden"}
    body = qr.card_pdf("0123456789", "Maximiliane " * 8, organisation, words)
    heading = assert_inside_the_card(body)
    assert heading.endswith("…")
    assert "· 0123456789" in pypdf.PdfReader(io.BytesIO(body)).pages[0].extract_text()


def test_the_card_from_the_gui_with_the_longest_name_the_settings_allow(member_browser, database):
    organisation = (
        "Freiwillige Feuerwehr der Verbandsgemeinde Musterstadt-Nord, "
        "Löschzug Oberdorf und Jugendfeuerwehr"
    )[:100]
    with database.session() as session:
        system_settings.update(session, TEST_ACTOR, organisation_name=organisation)
    response = member_browser.get("/me/qr/card.pdf")
    assert response.mimetype == "application/pdf"
    heading = assert_inside_the_card(response.data)
    assert heading.replace(" ", "") == organisation.replace(" ", "")


# --- The undo box is an offer; the phone's header and member page ----------------------------


def test_the_undo_box_is_an_offer_not_an_error(app, member_browser, build, database, member):
    book_at(database, member, 500, "Einzahlung", BOOKED_AT)
    key = build.api_key()
    response = app.test_client().put(
        f"/api/person/{member.code}/transaktion",
        json={"beschreibung": "Getränk"},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 200
    html = text_of(member_browser.get("/"))
    box = html[html.index('id="undo"') - 40 : html.index("</section>", html.index('id="undo"'))]
    assert 'class="card undo offer"' in box
    assert "Versehentlich gebucht?" in box
    assert 'class="offer-button"' in box and "primary" not in box and "error" not in box
    assert re.search(r"Möglich bis \d{2}:\d{2}:\d{2}\.", box)
    with member_browser.get("/assets/me.css") as asset:
        css = asset.get_data(as_text=True)
    offer = re.search(r"\.offer \{([^}]*)\}", css).group(1)
    assert "var(--info-bg)" in offer and "accent" not in offer and "error" not in offer


def test_the_phone_css_keeps_the_name_on_one_line_and_the_bookings_first(client):
    with client.get("/assets/fvh.css") as asset:
        css = asset.get_data(as_text=True)
    assert re.search(r"\.brand \.org \{[^}]*text-overflow: ellipsis", css)
    assert re.search(r"\.brand \{[^}]*white-space: nowrap", css)
    phone = css[css.rindex("@media (max-width: 640px)") :]
    assert "section:has(table.journal) { order: 1; }" in phone


def test_too_many_downloads_is_a_styled_429(member_browser):
    for _ in range(10):
        assert member_browser.get("/me/statement.csv").status_code == 200
    assert_styled(member_browser.get("/me/statement.csv"), 429, "Zu viele Anfragen", "Fehler 429")
