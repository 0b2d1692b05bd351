"""The member's actions: undo of the last terminal booking, notifications, own password."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from fvh.core import members, system_settings
from fvh.core.audit import Actor
from fvh.db.models import Member, Transaction
from tests.conftest import TEST_HASH_METHOD
from tests.web.conftest import PASSWORD, Browser
from tests.web.test_me_pages import deposit, terminal_booking

_UNDO_ID_RE = re.compile(r'name="transaction_id" value="(\d+)"')


def undo_id(html: str) -> int | None:
    match = _UNDO_ID_RE.search(html)
    return int(match.group(1)) if match else None


def member_row(database, member) -> Member:
    with database.session() as session:
        row = session.get(Member, member.id)
        session.expunge(row)
        return row


def journal_ids(database, member) -> list[int]:
    with database.session() as session:
        query = select(Transaction.id).where(Transaction.member_id == member.id)
        return sorted(session.scalars(query))


# --- undo ---------------------------------------------------------------------------------


def test_undo_of_the_last_terminal_booking(app, member_browser, build, database, member):
    deposit(database, member, 1000)
    terminal_booking(app, build.api_key(), member.code, "Limo")
    html = member_browser.get("/").get_data(as_text=True)
    booked = undo_id(html)
    assert booked is not None and "Buchung zurücknehmen" in html and "Limo" in html
    response = member_browser.post("/me/undo", {"transaction_id": booked}, page="/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = member_browser.get("/").get_data(as_text=True)
    assert "Die Buchung wurde zurückgenommen." in html
    assert undo_id(html) is None
    assert build.balance(member.code) == 1000
    # Only once: the same request again changes nothing.
    member_browser.post("/me/undo", {"transaction_id": booked}, page="/")
    html = member_browser.get("/").get_data(as_text=True)
    assert "Nur Ihre letzte Buchung kann zurückgenommen werden." in html
    assert build.balance(member.code) == 1000


def test_undo_is_refused_after_the_window(app, member_browser, build, database, member):
    deposit(database, member, 1000)
    terminal_booking(app, build.api_key(), member.code)
    with database.session() as session:
        system_settings.update(session, Actor.system(), undo_window_seconds=0)
    html = member_browser.get("/").get_data(as_text=True)
    assert undo_id(html) is None
    member_browser.post("/me/undo", {}, page="/")
    assert "Die Frist zum Zurücknehmen ist abgelaufen." in member_browser.get("/").get_data(
        as_text=True
    )
    assert build.balance(member.code) == 900


def test_no_undo_offer_for_an_admin_booking(member_browser, database, member):
    deposit(database, member, -300, "Korrektur")
    html = member_browser.get("/").get_data(as_text=True)
    assert undo_id(html) is None
    member_browser.post("/me/undo", {}, page="/")
    html = member_browser.get("/").get_data(as_text=True)
    assert "Nur eine Buchung am Terminal kann zurückgenommen werden." in html
    assert member_row(database, member).balance_cents == -300


def test_undo_needs_a_csrf_token(app, member_browser, build, database, member):
    deposit(database, member, 1000)
    terminal_booking(app, build.api_key(), member.code)
    booked = journal_ids(database, member)[-1]
    response = member_browser.client.post("/me/undo", data={"transaction_id": booked})
    assert response.status_code == 400
    assert build.balance(member.code) == 900


def test_anonymous_undo_goes_to_the_login(app, browser, build, database, member):
    deposit(database, member, 1000)
    terminal_booking(app, build.api_key(), member.code)
    booked = journal_ids(database, member)[-1]
    response = browser.post("/me/undo", {"transaction_id": booked})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert build.balance(member.code) == 900


# --- notifications ------------------------------------------------------------------------


def test_notifications_form_saves_the_choices(member_browser, database, member):
    html = member_browser.get("/me/notifications").get_data(as_text=True)
    assert "max@example.org" in html and 'name="threshold"' in html
    response = member_browser.post(
        "/me/notifications",
        {"notify_bookings": "y", "notify_low_balance": "y", "threshold": "2,50"},
        page="/me/notifications",
    )
    assert response.status_code == 302
    row = member_row(database, member)
    assert (row.notify_bookings, row.notify_zero, row.notify_low_balance) == (True, False, True)
    assert row.low_balance_threshold_cents == 250
    html = member_browser.get("/me/notifications").get_data(as_text=True)
    assert 'value="2,50"' in html and "Benachrichtigungen gespeichert." in html
    # Unticking everything and clearing the threshold switches them off again.
    member_browser.post("/me/notifications", {}, page="/me/notifications")
    row = member_row(database, member)
    assert (row.notify_bookings, row.notify_low_balance, row.low_balance_threshold_cents) == (
        False,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"notify_zero": "y", "threshold": "abc"}, "Kein gültiger Betrag"),
        ({"notify_zero": "y", "threshold": "1,234"}, "Höchstens 2 Nachkommastellen"),
        ({"notify_zero": "y", "threshold": "99999999999"}, "außerhalb des erlaubten Bereichs"),
        ({"notify_zero": "y", "notify_low_balance": "y"}, "bitte eine Schwelle angeben"),
    ],
)
def test_invalid_notifications_change_nothing(member_browser, database, member, form, message):
    response = member_browser.post("/me/notifications", form, page="/me/notifications")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    row = member_row(database, member)
    assert not (row.notify_zero or row.notify_low_balance or row.notify_bookings)
    assert row.low_balance_threshold_cents is None


def test_notifications_need_an_email_address(app, build, database):
    other = build.member(code="2200000022", password=PASSWORD)
    browser = Browser(app.test_client())
    browser.login(other.code)
    assert "keine E-Mail-Adresse" in browser.get("/me/notifications").get_data(as_text=True)
    response = browser.post("/me/notifications", {"notify_bookings": "y"}, page="/me/notifications")
    assert response.status_code == 400
    assert "E-Mail-Adresse nötig" in response.get_data(as_text=True)
    assert not member_row(database, other).notify_bookings


# --- own password -------------------------------------------------------------------------


def change_password(browser, current: str, new: str):
    return browser.post(
        "/password",
        {"current_password": current, "password": new, "confirm": new},
        page="/password",
    )


def password_ok(database, member, password: str) -> bool:
    with database.session() as session:
        row = session.get(Member, member.id)
        return members.check_password(row, password, TEST_HASH_METHOD)


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("Qwertyuiop", "häufigsten Passwörtern"),
        ("password123", "häufigsten Passwörtern"),
        ("kurz-123", "10 bis 128 Zeichen"),
        ("x" * 129, "10 bis 128 Zeichen"),
    ],
)
def test_password_change_refuses_weak_passwords(member_browser, database, member, new, message):
    response = change_password(member_browser, PASSWORD, new)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert password_ok(database, member, PASSWORD)


def test_password_change_needs_the_current_password(member_browser, database, member):
    response = change_password(member_browser, "falsch-falsch-falsch", "ein-gutes-neues-pw")
    assert "Das bisherige Passwort ist falsch." in response.get_data(as_text=True)
    assert password_ok(database, member, PASSWORD)


def test_password_change_works_and_keeps_the_session(member_browser, database, member):
    response = change_password(member_browser, PASSWORD, "ein-gutes-neues-pw")
    assert response.status_code == 302
    assert password_ok(database, member, "ein-gutes-neues-pw")
    assert member_browser.get("/me/qr").status_code == 200


# --- the undo window, set by an admin ---------------------------------------------------


def settings_form(admin_browser, **changes) -> dict[str, str]:
    form = {
        "organisation_name": "Feuerwehr",
        "default_amount": "-1,00",
        "min_balance": "0",
        "currency": "EUR",
        "decimals": "2",
        **changes,
    }
    return admin_browser.post("/admin/settings", form, page="/admin/settings")


def test_admin_sets_the_undo_window(admin_browser, database):
    assert 'name="undo_window" type="number" value="120"' in admin_browser.get(
        "/admin/settings"
    ).get_data(as_text=True)
    assert settings_form(admin_browser, undo_window="300").status_code == 302
    with database.session() as session:
        assert system_settings.load(session).undo_window_seconds == 300
    for bad in ("-5", "3601", "zwei"):
        response = settings_form(admin_browser, undo_window=bad)
        assert response.status_code == 400, bad
        if bad != "zwei":  # a number out of range: the domain's message at the field
            assert "Rücknahmefrist: 0 bis 3600 Sekunden." in response.get_data(as_text=True)
    with database.session() as session:
        assert system_settings.load(session).undo_window_seconds == 300
    # Left empty, the window stays as it is.
    assert settings_form(admin_browser).status_code == 302
    with database.session() as session:
        assert system_settings.load(session).undo_window_seconds == 300


def test_undone_booking_is_marked_on_the_own_page(member_browser, member, database):
    """After an undo, the member's own journal marks the original as reversed."""
    from fvh.core import audit, ledger

    with database.session() as s:
        booking = ledger.book(s, member.id, -100, "Kasse", audit.Actor.system("t"))
        ledger.reverse(s, booking.transaction_id, audit.Actor.system("t"))
    page = member_browser.get("/").get_data(as_text=True)
    assert f'id="tx-{booking.transaction_id}" class="reversed"' in page
