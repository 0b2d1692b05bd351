"""The member's own pages: account data, balance, history, charts, QR codes, exports."""

from __future__ import annotations

import csv
import io

import pypdf
import pytest
import zxingcpp
from PIL import Image

from fvh.core import ledger, members, tokens
from fvh.db.models import utcnow
from tests.builders import TEST_ACTOR
from tests.web.conftest import PASSWORD, Browser

ME_GET_URLS = [
    "/me/notifications",
    "/me/qr",
    "/me/qr/book.png",
    "/me/qr/balance.png",
    "/me/qr/card.pdf",
    "/me/statement.csv",
    "/me/statement.pdf",
    "/me/chart.json",
]


def decode(data: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]


def terminal_booking(app, key: str, code: str, text: str = "Getränk"):
    response = app.test_client().put(
        f"/api/person/{code}/transaktion", json={"beschreibung": text}, headers={"X-API-Key": key}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def deposit(database, member, cents: int, text: str = "Einzahlung") -> None:
    with database.session() as session:
        ledger.book(session, member.id, cents, text, TEST_ACTOR)


def test_home_shows_personal_data_tokens_and_balance(member_browser, build, database, member):
    build.token(member, bytes.fromhex("04a22b1c"), "Schlüsselanhänger")
    build.token(member, bytes.fromhex("0102"), "Handy")
    with database.session() as session:
        token = tokens.find(session, bytes.fromhex("0102"))
        token.last_used_at = utcnow()
    deposit(database, member, 1250)
    html = member_browser.get("/").get_data(as_text=True)
    for expected in (
        "2000000002",
        "Max",
        "Muster",
        "max@example.org",
        "Schlüsselanhänger",
        "04:A2:2B:1C",
        "Handy",
        "nie",
        "12,50",
        "stat-balance",
        "Deutsch",
    ):
        assert expected in html, expected
    assert 'href="/password"' in html
    assert 'href="/me/notifications"' in html
    assert 'href="/me/qr"' in html
    assert 'data-source="/me/chart.json"' in html
    assert 'action="/me/statement.csv"' in html
    assert "<script>" not in html and "style=" not in html


def test_home_history_is_paged(member_browser, database, member):
    for n in range(55):
        deposit(database, member, 100, f"Einzahlung {n:02d}")
    first = member_browser.get("/").get_data(as_text=True)
    assert "(55)" in first and "Einzahlung 54" in first and "Einzahlung 00" not in first
    second = member_browser.get("/?page=2").get_data(as_text=True)
    assert "Einzahlung 00" in second and "Einzahlung 54" not in second


def test_admin_sees_their_own_account_the_same_way(admin_browser, admin):
    html = admin_browser.get("/").get_data(as_text=True)
    assert admin.code in html and "Anna" in html
    assert admin_browser.get("/me/qr").status_code == 200
    assert decode(admin_browser.get("/me/qr/book.png").data) == [admin.code + "a"]


def asset(client, path: str) -> bytes:
    response = client.get(f"/assets/{path}")
    try:
        assert response.status_code == 200, path
        return response.data
    finally:
        response.close()


def test_charts_script_and_library_are_served(client):
    assert b"Chart.js v4" in asset(client, "vendor/chartjs/chart.umd.min.js")
    assert b"balance-chart" in asset(client, "me-charts.js")
    assert b"MIT" in asset(client, "vendor/chartjs/LICENSE.md")
    assert b".stat-balance" in asset(client, "me.css")


def test_chart_data_of_the_own_account(app, member_browser, build, database, member):
    key = build.api_key()
    deposit(database, member, 1000)
    terminal_booking(app, key, member.code)
    terminal_booking(app, key, member.code)
    data = member_browser.get("/me/chart.json").get_json()
    assert data["currency"] == "EUR" and data["decimals"] == 2
    assert [p["cents"] for p in data["balance"]] == [1000, 900, 800]
    assert all(isinstance(p["t"], int) for p in data["balance"])
    assert data["week"][-1]["cents"] == 200 and data["month"][-1]["cents"] == 200
    assert len(data["week"]) == len(data["month"]) == 12


def test_qr_page_and_images_decode_to_the_own_code(member_browser, member):
    html = member_browser.get("/me/qr").get_data(as_text=True)
    assert "2000000002a" in html and "2000000002k" in html
    assert 'src="/me/qr/book.png"' in html and 'href="/me/qr/card.pdf"' in html
    book = member_browser.get("/me/qr/book.png")
    assert book.mimetype == "image/png"
    assert decode(book.data) == ["2000000002a"]
    assert decode(member_browser.get("/me/qr/balance.png").data) == ["2000000002k"]


def test_qr_card_pdf_decodes_to_both_codes(member_browser, member):
    response = member_browser.get("/me/qr/card.pdf")
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    page = pypdf.PdfReader(io.BytesIO(response.data)).pages[0]
    found = sorted(text for image in page.images for text in decode_image(image.image))
    assert found == ["2000000002a", "2000000002k"]
    assert "Max Muster · 2000000002" in page.extract_text()


def decode_image(image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def statement_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))


def test_statement_csv(app, member_browser, build, database, member):
    deposit(database, member, 2000)
    terminal_booking(app, build.api_key(), member.code, "Kaffee")
    response = member_browser.get("/me/statement.csv")
    assert response.mimetype == "text/csv"
    assert 'filename="fvh-2000000002-statement.csv"' in response.headers["Content-Disposition"]
    rows = statement_rows(response)
    assert rows[0] == ["Zeit", "Betrag", "Beschreibung", "Gebucht von", "Kontostand"]
    assert [r[2] for r in rows[1:]] == ["Einzahlung", "Kaffee"]
    assert rows[-1][4] == "19,00\xa0€"


def test_statement_date_filter(member_browser, database, member):
    deposit(database, member, 2000)
    today = utcnow().date()
    old = today.replace(year=today.year - 1)
    assert len(statement_rows(member_browser.get(f"/me/statement.csv?to={old}"))) == 1
    assert len(statement_rows(member_browser.get(f"/me/statement.csv?from={old}"))) == 2
    for query in ("from=gestern", "to=2026-13-01", f"from={today}&to={old}"):
        assert member_browser.get(f"/me/statement.csv?{query}").status_code == 400, query
        assert member_browser.get(f"/me/statement.pdf?{query}").status_code == 400, query


def test_statement_pdf(member_browser, database, member):
    deposit(database, member, 2000, "Einzahlung bar")
    response = member_browser.get(f"/me/statement.pdf?from={utcnow().date()}")
    assert response.mimetype == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    for expected in ("Kontoauszug", "Max Muster (2000000002)", "Einzahlung bar", "Endstand"):
        assert expected in text, expected


def test_statement_in_english(member_browser, database, member):
    deposit(database, member, 2000)
    member_browser.post("/language", {"language": "en", "next": "/"})
    rows = statement_rows(member_browser.get("/me/statement.csv"))
    assert rows[0] == ["Time", "Amount", "Description", "Booked by", "Balance"]
    assert rows[1][1] == "€20.00"
    html = member_browser.get("/me/notifications").get_data(as_text=True)
    assert "Notifications" in html


@pytest.mark.parametrize("url", [*ME_GET_URLS, "/"])
def test_anonymous_is_sent_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_forced_password_change_comes_first(app, database):
    with database.session() as session:
        members.create(
            session,
            members.NewMember(
                "Neu", "Ling", code="2100000021", password=PASSWORD, must_change_password=True
            ),
            TEST_ACTOR,
        )
    browser = Browser(app.test_client())
    browser.login("2100000021")
    for url in ME_GET_URLS:
        response = browser.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/password", url


def test_own_data_is_never_cached(member_browser):
    for url in ME_GET_URLS:
        assert member_browser.get(url).headers["Cache-Control"] == "no-store", url
