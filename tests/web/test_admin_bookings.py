"""Admin: manual and bulk bookings, reversal, the journal with filters and CSV, deletion."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from fvh.core import ledger
from fvh.db.models import Transaction
from tests.builders import TEST_ACTOR


def _entries(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Transaction))


def test_manual_deposit_and_correction(admin_browser, member, build):
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(
        f"{page}/book", {"amount": "20", "description": "Einzahlung bar"}, page=page
    )
    assert response.status_code == 302
    assert build.balance(member.code) == 2000
    admin_browser.post(f"{page}/book", {"amount": "-1,50", "description": "Korrektur"}, page=page)
    assert build.balance(member.code) == 1850
    html = admin_browser.get(page).get_data(as_text=True)
    assert "Einzahlung bar" in html
    assert "18,50\xa0€" in html


def test_invalid_booking_shows_the_error_and_books_nothing(admin_browser, member, database):
    page = f"/admin/members/{member.id}"
    for data, field in (
        ({"amount": "zwanzig", "description": "x"}, "amount"),
        ({"amount": "0", "description": "x"}, "amount"),
        ({"amount": "1.000", "description": "x"}, "amount"),
        ({"amount": "12,345", "description": "x"}, "amount"),
        ({"amount": "5", "description": ""}, "description"),
    ):
        response = admin_browser.post(f"{page}/book", data, page=page)
        assert response.status_code == 400
        assert f'id="{field}-error"' in response.get_data(as_text=True), data
    assert _entries(database) == 0


def test_amounts_as_people_write_them(admin_browser, member, build, database):
    """German "1.000,00" is a thousand; "1.000" could be one or a thousand: refused, asked."""
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(
        f"{page}/book", {"amount": "1.000,00", "description": "Kasse"}, page=page
    )
    assert response.status_code == 302
    assert build.balance(member.code) == 100000
    response = admin_browser.post(
        f"{page}/book", {"amount": "1.000", "description": "Kasse"}, page=page
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "1.000 – meinten Sie 1.000,00\xa0€ oder 1,00\xa0€?" in html
    assert 'id="amount-error"' in html
    assert build.balance(member.code) == 100000 and _entries(database) == 1
    balance = 100000
    for text, cents in (("\u22122,50\xa0€", -250), ("5 €", 500), ("20,5", 2050), ("1000", 100000)):
        admin_browser.post(f"{page}/book", {"amount": text, "description": "x"}, page=page)
        balance += cents
        assert build.balance(member.code) == balance, text


def test_english_amounts_in_the_english_gui(admin_browser, member, build):
    admin_browser.post("/language", {"language": "en"})
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/book", {"amount": "1,000.50", "description": "x"}, page=page)
    assert build.balance(member.code) == 100050
    response = admin_browser.post(
        f"{page}/book", {"amount": "1,000", "description": "x"}, page=page
    )
    assert response.status_code == 400
    assert "1,000 – did you mean €1,000.00 or €1.00?" in response.get_data(as_text=True)
    assert build.balance(member.code) == 100050


def test_locked_member_can_still_get_a_deposit(admin_browser, build):
    locked = build.member(code="5000000005", locked=True)
    page = f"/admin/members/{locked.id}"
    admin_browser.post(f"{page}/book", {"amount": "10", "description": "Einzahlung"}, page=page)
    assert build.balance(locked.code) == 1000


def test_bulk_booking_books_everyone_selected(admin_browser, build, database):
    one = build.member(code="3000000003")
    two = build.member(code="3000000004")
    three = build.member(code="3000000005")
    response = admin_browser.post(
        "/admin/bookings/bulk",
        {"amount": "-2", "description": "Grillfest", "member_ids": [str(one.id), str(two.id)]},
        page="/admin/bookings/bulk",
    )
    assert response.status_code == 302
    assert build.balance(one.code) == -200
    assert build.balance(two.code) == -200
    assert build.balance(three.code) == 0


def test_bulk_booking_is_all_or_nothing(admin_browser, build, database):
    one = build.member(code="3000000003")
    response = admin_browser.post(
        "/admin/bookings/bulk",
        {"amount": "5", "description": "Umlage", "member_ids": [str(one.id), "999999"]},
        page="/admin/bookings/bulk",
    )
    assert response.status_code == 400
    assert "Nichts wurde gebucht" in response.get_data(as_text=True)
    assert _entries(database) == 0
    response = admin_browser.post(
        "/admin/bookings/bulk",
        {"amount": "5", "description": "Umlage"},
        page="/admin/bookings/bulk",
    )
    assert "mindestens ein Mitglied" in response.get_data(as_text=True)
    assert _entries(database) == 0


def test_reverse_a_booking_once(admin_browser, build, database):
    member = build.member(code="3000000003", balance_cents=500)
    with database.session() as session:
        entry_id = session.scalar(select(Transaction.id))
    url = f"/admin/transactions/{entry_id}/reverse"
    response = admin_browser.post(url, {"next": "/admin/journal"}, page="/admin/journal")
    assert response.headers["Location"] == "/admin/journal"
    assert build.balance(member.code) == 0
    html = admin_browser.get("/admin/journal").get_data(as_text=True)
    assert "Storno: Startguthaben" in html
    assert "storniert" in html
    response = admin_browser.post(url, page="/admin/journal", follow_redirects=True)
    assert "bereits storniert" in response.get_data(as_text=True)
    assert build.balance(member.code) == 0
    assert admin_browser.post("/admin/transactions/999999/reverse").status_code == 404


def _book(database, member_id: int, cents: int, text: str) -> None:
    with database.session() as session:
        ledger.book(session, member_id, cents, text, TEST_ACTOR)


def test_journal_filters_and_paging(admin_browser, build, database):
    max_ = build.member(code="3000000003", first_name="Max")
    eva = build.member(code="3000000004", first_name="Eva")
    for n in range(60):
        _book(database, max_.id, -100, f"Strich {n}")
    _book(database, eva.id, 2000, "Einzahlung Eva")
    html = admin_browser.get("/admin/journal").get_data(as_text=True)
    assert "Seite 1 von 2" in html
    assert "(61)" in html
    by_member = admin_browser.get("/admin/journal?member=3000000004").get_data(as_text=True)
    assert "Einzahlung Eva" in by_member
    assert "Strich 1" not in by_member
    credits = admin_browser.get("/admin/journal?kind=credit").get_data(as_text=True)
    assert "Einzahlung Eva" in credits
    assert "Strich" not in credits
    text = admin_browser.get("/admin/journal?q=strich+5").get_data(as_text=True)
    assert "(11)" in text  # Strich 5, 50..59
    dated = admin_browser.get("/admin/journal?from=2000-01-01&to=2000-01-02").get_data(as_text=True)
    assert "Keine Buchungen." in dated
    bad = admin_browser.get("/admin/journal?member=123&from=gestern").get_data(as_text=True)
    assert "Kein Mitglied mit dem Code 123." in bad
    assert "Ungültiges Datum" in bad


def test_journal_csv_export(admin_browser, build, database):
    member = build.member(code="3000000003", first_name="=cmd", last_name="Muster")
    _book(database, member.id, -250, "@SUM(A1)")
    response = admin_browser.get("/admin/journal.csv?member=3000000003")
    assert response.mimetype == "text/csv"
    assert "journal-3000000003.csv" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:5] == ["Nr.", "Zeit", "Code", "Name", "Betrag"]
    assert len(rows) == 2
    assert rows[1][2] == "3000000003"
    assert rows[1][3] == "'=cmd Muster"  # no formula injection
    assert rows[1][4] == "-2,50"
    assert rows[1][5] == "'@SUM(A1)"


def test_delete_a_members_journal_needs_the_code(admin_browser, build, database):
    member = build.member(code="3000000003", balance_cents=700)
    other = build.member(code="3000000004", balance_cents=300)
    url = f"/admin/journal/delete?member={member.id}"
    response = admin_browser.post(url, {"confirmation": "ALLE"}, page=url)
    assert "Bitte genau 3000000003 eingeben." in response.get_data(as_text=True)
    assert build.balance(member.code) == 700
    response = admin_browser.post(url, {"confirmation": "3000000003"}, page=url)
    assert response.status_code == 302
    assert build.balance(member.code) == 0
    assert build.balance(other.code) == 300


def test_delete_all_journals_needs_the_word(admin_browser, build, database):
    build.member(code="3000000003", balance_cents=700)
    build.member(code="3000000004", balance_cents=-300)
    url = "/admin/journal/delete"
    page = admin_browser.get(url).get_data(as_text=True)
    assert "4,00\xa0€" in page  # the sum that will be lost
    admin_browser.post(url, {"confirmation": "alle"}, page=url)
    assert _entries(database) == 2
    admin_browser.post(url, {"confirmation": "ALLE"}, page=url)
    assert _entries(database) == 0
    assert build.balance("3000000004") == 0
