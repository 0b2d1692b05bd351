"""Admin: manual and bulk bookings, reversal, the journal with filters and CSV, deletion."""

from __future__ import annotations

import csv
import io
import re
import threading

from sqlalchemy import func, select

from fvh.core import ledger, members
from fvh.db.models import Member, Transaction
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


def _form_token(html: str) -> str:
    match = re.search(r'<input[^>]* name="form_token"[^>]* value="([^"]+)"', html)
    assert match, "the form carries a one-time token"
    return match.group(1)


def test_bulk_booking_previews_then_books_everyone_selected(admin_browser, build, database):
    people = [build.member(code=f"300000000{n}", first_name=f"P{n}") for n in range(3, 8)]
    chosen = [str(m.id) for m in people[:4]]
    form = {"amount": "-7,50", "description": "Grillfest", "member_ids": chosen}
    preview = admin_browser.post("/admin/bookings/bulk", form, page="/admin/bookings/bulk")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "4 Mitglieder × -7,50\xa0€ = -30,00\xa0€" in html
    assert "Grillfest" in html and "P3 Muster" in html and "P7 Muster" not in html
    assert _entries(database) == 0  # the preview books nothing
    for member_id in chosen:
        assert f'name="member_ids" value="{member_id}"' in html
    # "Ändern" goes back to the filled-in form, still booking nothing.
    back = admin_browser.post(
        "/admin/bookings/bulk", {**form, "back": "1", "confirm": "1"}, page="/admin/bookings/bulk"
    )
    assert back.status_code == 200 and 'value="-7,50"' in back.get_data(as_text=True)
    assert _entries(database) == 0
    token = _form_token(html)
    response = admin_browser.post(
        "/admin/bookings/bulk",
        {**form, "confirm": "1", "form_token": token},
        page="/admin/bookings/bulk",
    )
    assert response.status_code == 302
    assert [build.balance(m.code) for m in people] == [-750, -750, -750, -750, 0]


def test_bulk_booking_preview_of_one_member_in_english(admin_browser, build):
    one = build.member(code="3000000003")
    admin_browser.post("/language", {"language": "en"})
    preview = admin_browser.post(
        "/admin/bookings/bulk",
        {"amount": "2.50", "description": "x", "member_ids": [str(one.id)]},
        page="/admin/bookings/bulk",
    )
    html = preview.get_data(as_text=True)
    assert "1 member × €2.50 = €2.50" in html
    booked = admin_browser.post(
        "/admin/bookings/bulk",
        {"amount": "2.50", "description": "x", "member_ids": [str(one.id)], "confirm": "1"},
        page="/admin/bookings/bulk",
        follow_redirects=True,
    )
    assert "1 booking made." in booked.get_data(as_text=True)


def test_bulk_booking_kind_gives_the_sign(admin_browser, build, database):
    one = build.member(code="3000000003")
    html = admin_browser.get("/admin/bookings/bulk").get_data(as_text=True)
    assert re.search(r'<input checked [^>]*value="debit"', html)  # a share of the costs
    form = {"description": "Umlage", "member_ids": [str(one.id)]}
    preview = admin_browser.post(
        "/admin/bookings/bulk",
        {**form, "kind": "debit", "amount": "7,50"},
        page="/admin/bookings/bulk",
    )
    html = preview.get_data(as_text=True)
    assert "1 Mitglied × -7,50\xa0€ = -7,50\xa0€" in html
    assert 'name="kind" value="debit"' in html  # the confirmation books the same
    credit = {**form, "kind": "credit", "amount": "2", "confirm": "1"}
    admin_browser.post("/admin/bookings/bulk", credit, page="/admin/bookings/bulk")
    assert build.balance(one.code) == 200
    refused = admin_browser.post(
        "/admin/bookings/bulk", {**credit, "amount": "-2"}, page="/admin/bookings/bulk"
    )
    assert refused.status_code == 400 and "Bitte ohne Vorzeichen" in refused.get_data(as_text=True)
    assert build.balance(one.code) == 200 and _entries(database) == 1


def test_bulk_booking_hides_admins_unless_asked(admin_browser, admin, build):
    member = build.member(code="3000000003")
    html = admin_browser.get("/admin/bookings/bulk").get_data(as_text=True)
    assert f'value="{member.id}"' in html
    assert f'name="member_ids" value="{admin.id}"' not in html
    assert "Administratoren sind ausgeblendet" in html
    shown = admin_browser.get("/admin/bookings/bulk?admins=1").get_data(as_text=True)
    assert f'name="member_ids" value="{admin.id}"' in shown


def test_bulk_booking_sent_twice_books_once(admin_browser, build, database):
    one = build.member(code="3000000003")
    two = build.member(code="3000000004")
    page = admin_browser.get("/admin/bookings/bulk").get_data(as_text=True)
    form = {
        "amount": "-2",
        "description": "Grillfest",
        "member_ids": [str(one.id), str(two.id)],
        "confirm": "1",
        "form_token": _form_token(page),
    }
    first = admin_browser.post("/admin/bookings/bulk", form, page="/admin/bookings/bulk")
    second = admin_browser.post("/admin/bookings/bulk", form, page="/admin/bookings/bulk")
    assert first.status_code == 302 and second.status_code == 303
    assert build.balance(one.code) == -200 and build.balance(two.code) == -200
    assert _entries(database) == 2
    html = admin_browser.get(second.headers["Location"]).get_data(as_text=True)
    assert "Dieses Formular wurde schon abgeschickt; es wurde nur einmal gebucht." in html


def test_bulk_booking_is_all_or_nothing(admin_browser, build, database):
    one = build.member(code="3000000003")
    for confirm in ({}, {"confirm": "1"}):
        response = admin_browser.post(
            "/admin/bookings/bulk",
            {"amount": "5", "description": "Umlage", "member_ids": [str(one.id), "999999"]}
            | confirm,
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


def test_reverse_asks_first_naming_member_and_amount(admin_browser, build, database):
    member = build.member(code="3000000003", first_name="Öznur", balance_cents=500)
    with database.session() as session:
        entry_id = session.scalar(select(Transaction.id))
    url = f"/admin/transactions/{entry_id}/reverse"
    asked = admin_browser.post(url, {"next": "/admin/journal"}, page="/admin/journal")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert f"Buchung #{entry_id} von Öznur Muster über 5,00\xa0€" in html
    assert "Gegenbuchung über -5,00\xa0€" in html
    assert 'name="next" value="/admin/journal"' in html and 'name="confirm" value="1"' in html
    assert build.balance(member.code) == 500 and _entries(database) == 1
    seen = re.search(r'name="entry" value="([^"]+)"', html).group(1)
    response = admin_browser.post(
        url, {"next": "/admin/journal", "confirm": "1", "entry": seen}, page="/admin/journal"
    )
    assert response.headers["Location"] == "/admin/journal"
    assert build.balance(member.code) == 0
    html = admin_browser.get("/admin/journal").get_data(as_text=True)
    assert "Storno: Startguthaben" in html
    assert "storniert" in html
    # Reversed already: refused at once, nothing to confirm.
    again = admin_browser.post(url, page="/admin/journal", follow_redirects=True)
    assert "bereits storniert" in again.get_data(as_text=True)
    assert 'id="confirmation"' not in again.get_data(as_text=True)
    assert build.balance(member.code) == 0
    assert admin_browser.post("/admin/transactions/999999/reverse").status_code == 404


def test_reverse_confirmed_for_an_entry_whose_id_went_to_another_is_refused(
    admin_browser, build, database
):
    """On SQLite a deleted member's journal ids are given out again: a confirmation the
    admin gave for the old entry must not reverse the new one."""
    gone = build.member(code="3000000003", first_name="Gerd", balance_cents=500)
    with database.session() as session:
        entry_id = session.scalar(select(Transaction.id).order_by(Transaction.id.desc()))
    url = f"/admin/transactions/{entry_id}/reverse"
    asked = admin_browser.post(url, {"next": "/admin/journal"}, page="/admin/journal")
    seen = re.search(r'name="entry" value="([^"]+)"', asked.get_data(as_text=True)).group(1)
    with database.session() as session:
        members.delete(session, session.get(Member, gone.id), TEST_ACTOR)
    other = build.member(code="3000000004", first_name="Nora", balance_cents=700)

    response = admin_browser.post(
        url, {"next": "/admin/journal", "confirm": "1", "entry": seen}, page="/admin/journal"
    )
    assert response.status_code in (302, 404)  # refused, or the id is gone for good
    assert build.balance(other.code) == 700
    with database.session() as session:
        assert session.scalar(select(func.count()).where(Transaction.reverses_id.is_not(None))) == 0


def test_member_booking_sent_twice_books_once(admin_browser, member, build, database):
    page = f"/admin/members/{member.id}"
    token = _form_token(admin_browser.get(page).get_data(as_text=True))
    form = {"kind": "deposit", "amount": "20", "description": "", "form_token": token}
    first = admin_browser.post(f"{page}/book", form, page=page)
    second = admin_browser.post(f"{page}/book", form, page=page)
    assert first.status_code == 302 and second.status_code == 303
    assert build.balance(member.code) == 2000 and _entries(database) == 1
    html = admin_browser.get(second.headers["Location"]).get_data(as_text=True)
    assert "Dieses Formular wurde schon abgeschickt; es wurde nur einmal gebucht." in html
    # A form refused for a typo keeps its token usable for the corrected form.
    token = _form_token(admin_browser.get(page).get_data(as_text=True))
    refused = admin_browser.post(
        f"{page}/book", {**form, "amount": "1.000", "form_token": token}, page=page
    )
    assert refused.status_code == 400 and _form_token(refused.get_data(as_text=True)) == token
    admin_browser.post(
        f"{page}/book", {**form, "amount": "1.000,00", "form_token": token}, page=page
    )
    assert build.balance(member.code) == 102000 and _entries(database) == 2


def test_two_identical_booking_posts_at_once_book_once(app, admin_browser, member, build):
    """A double submit whose requests overlap: the second waits for the first's token row
    and is refused; exactly one booking, and no error page."""
    page = f"/admin/members/{member.id}"
    html = admin_browser.get(page).get_data(as_text=True)
    form = {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1],
        "kind": "deposit",
        "amount": "20",
        "form_token": _form_token(html),
    }
    cookie = admin_browser.client.get_cookie("fvh_session").value
    start = threading.Barrier(2)
    statuses: list[int] = []

    def send() -> None:
        client = app.test_client()
        client.set_cookie("fvh_session", cookie)
        start.wait(timeout=10)
        statuses.append(client.post(f"{page}/book", data=form).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [302, 303]
    assert build.balance(member.code) == 2000


def test_deposit_presets_and_the_kind_switch(admin_browser, member, build, database):
    page = f"/admin/members/{member.id}"
    html = admin_browser.get(page).get_data(as_text=True)
    for value in ("10,00", "20,00", "50,00"):
        assert f'name="preset" value="{value}"' in html
    assert re.search(r'<input checked [^>]*value="deposit"', html)  # it starts as a deposit
    assert 'placeholder="Einzahlung"' in html
    post = lambda data: admin_browser.post(f"{page}/book", data, page=page)  # noqa: E731
    assert post({"kind": "deposit", "preset": "20,00", "amount": ""}).status_code == 302
    assert build.balance(member.code) == 2000
    with database.session() as session:
        assert session.scalar(select(Transaction.description)) == "Einzahlung"
    post({"kind": "debit", "amount": "1,50", "description": "Strich vergessen"})
    post({"kind": "credit", "amount": "0,50", "description": "Doppelt gebucht"})
    post({"kind": "debit", "amount": "\u22121", "description": "Minus stimmt mit der Art"})
    assert build.balance(member.code) == 1800
    for data, message in (
        ({"kind": "deposit", "amount": "-5"}, "Bitte ohne Vorzeichen"),
        ({"kind": "deposit", "amount": ""}, "Bitte einen Betrag angeben."),
        ({"kind": "refund", "amount": "5"}, "Bitte eine Art wählen."),
        ({"kind": "credit", "amount": "-5", "description": "x"}, "Bitte ohne Vorzeichen"),
        ({"kind": "debit", "amount": "5", "description": ""}, "Bitte eine Beschreibung angeben."),
    ):
        response = post(data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True), data
    assert build.balance(member.code) == 1800 and _entries(database) == 4


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
