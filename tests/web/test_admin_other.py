"""Admin: NFC tokens, API clients and keys, settings and the audit log."""

from __future__ import annotations

import base64
import re

from sqlalchemy import select

from fvh.core import system_settings as settings
from fvh.core import tokens
from fvh.db.models import ApiKey, Token, UnknownTokenScan


def test_add_a_token_by_hex_and_remove_it(admin_browser, member, database):
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(
        f"{page}/tokens", {"token_hex": "04 a2:2b-1d", "name": "Schlüssel"}, page=page
    )
    assert response.status_code == 302
    html = admin_browser.get(page).get_data(as_text=True)
    assert "04:A2:2B:1D" in html
    with database.session() as session:
        token_id = session.scalar(select(Token.id).where(Token.data == bytes.fromhex("04a22b1d")))
    admin_browser.post(f"/admin/tokens/{token_id}/delete", {"confirm": "1"}, page=page)
    assert "04:A2:2B:1D" not in admin_browser.get(page).get_data(as_text=True)


def test_bad_or_taken_token_shows_an_error(admin_browser, member, build):
    owner = build.member(code="3000000003", first_name="Erna", last_name="Eigner")
    build.token(owner, bytes.fromhex("aabbcc"))
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(f"{page}/tokens", {"token_hex": "xyz"}, page=page)
    assert response.status_code == 400
    assert 'id="token_hex-error"' in response.get_data(as_text=True)
    response = admin_browser.post(f"{page}/tokens", {"token_hex": "AA:BB:CC"}, page=page)
    html = response.get_data(as_text=True)
    assert "Erna Eigner" in html
    assert 'value="AA:BB:CC"' in html


def test_assign_an_unknown_scan_with_one_click(admin_browser, member, database):
    with database.session() as session:
        scan = tokens.record_unknown_scan(session, bytes.fromhex("0102030405"), "Terminal 1")
        session.flush()
        scan_id = scan.id
    html = admin_browser.get("/admin/tokens/unknown").get_data(as_text=True)
    assert "01:02:03:04:05" in html
    response = admin_browser.post(
        f"/admin/tokens/unknown/{scan_id}/assign",
        {"member_id": str(member.id), "name": "Karte"},
        page="/admin/tokens/unknown",
    )
    assert response.status_code == 302
    with database.session() as session:
        token = session.scalar(select(Token).where(Token.data == bytes.fromhex("0102030405")))
        assert token.member_id == member.id
        assert session.get(UnknownTokenScan, scan_id) is None


def test_dismiss_an_unknown_scan(admin_browser, database):
    with database.session() as session:
        scan = tokens.record_unknown_scan(session, b"\x09", "T")
        session.flush()
        scan_id = scan.id
    admin_browser.post(f"/admin/tokens/unknown/{scan_id}/dismiss", page="/admin/tokens/unknown")
    with database.session() as session:
        assert session.get(UnknownTokenScan, scan_id) is None


def test_api_client_and_key_shown_once_and_usable(admin_browser, client, member, database):
    response = admin_browser.post(
        "/admin/api-clients", {"name": "Terminal Halle"}, page="/admin/api-clients"
    )
    assert response.status_code == 302
    client_page = response.headers["Location"]
    response = admin_browser.post(
        client_page, {"name": "Tablet", "scope": "terminal"}, page=client_page
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    key = re.search(r'id="secret">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert key.startswith("fvh_")
    listing = admin_browser.get(client_page).get_data(as_text=True)
    assert key not in listing
    assert key[:8] in listing
    used = client.put(
        "/api/nfc-transaktion",
        json={"token": base64.b64encode(b"\x01\x02").decode()},
        headers={"X-API-Key": key},
    )
    assert used.status_code != 401
    with database.session() as session:
        key_id = session.scalar(select(ApiKey.id))
    admin_browser.post(f"/admin/api-keys/{key_id}/revoke", {"confirm": "1"}, page=client_page)
    refused = client.get("/api/version", headers={"X-API-Key": key})
    assert refused.status_code == 401


def test_duplicate_api_client_name_is_an_error(admin_browser):
    admin_browser.post("/admin/api-clients", {"name": "Kasse"}, page="/admin/api-clients")
    response = admin_browser.post(
        "/admin/api-clients", {"name": "Kasse"}, page="/admin/api-clients"
    )
    assert response.status_code == 400
    assert 'id="name-error"' in response.get_data(as_text=True)


def test_delete_api_client_needs_its_name(admin_browser, database):
    response = admin_browser.post("/admin/api-clients", {"name": "Weg"}, page="/admin/api-clients")
    url = response.headers["Location"] + "/delete"
    admin_browser.post(url, {"confirmation": "weg"}, page=url)
    assert "Weg" in admin_browser.get("/admin/api-clients").get_data(as_text=True)
    response = admin_browser.post(url, {"confirmation": "Weg"}, page=url)
    assert response.headers["Location"] == "/admin/api-clients"
    assert "Noch keine API-Benutzer." in admin_browser.get("/admin/api-clients").get_data(
        as_text=True
    )


def test_settings_page_updates_the_settings(admin_browser, database):
    html = admin_browser.get("/admin/settings").get_data(as_text=True)
    assert 'value="1,00"' in html  # the price of a tap, with the language's decimal sign
    response = admin_browser.post(
        "/admin/settings",
        {
            "organisation_name": "FF Musterdorf",
            "default_amount": "1,50",
            "min_balance": "-10",
            "currency": "EUR",
            "decimals": "2",
        },
        page="/admin/settings",
    )
    assert response.status_code == 302
    with database.session() as session:
        current = settings.load(session)
    assert current.default_amount_cents == -150
    assert current.min_balance_cents == -1000
    assert "FF Musterdorf" in admin_browser.get("/admin/").get_data(as_text=True)
    assert 'value="1,50"' in admin_browser.get("/admin/settings").get_data(as_text=True)


def test_the_tap_price_is_entered_as_a_positive_price(admin_browser, database):
    """The form asks for a price; the setting debits it. A minus written the old way is
    the same price; zero is refused at the field."""
    form = {"organisation_name": "F", "min_balance": "0", "currency": "EUR", "decimals": "2"}
    for typed in ("2,50", "-2,50", "2,50 €"):
        response = admin_browser.post(
            "/admin/settings", {**form, "default_amount": typed}, page="/admin/settings"
        )
        assert response.status_code == 302, typed
        with database.session() as session:
            assert settings.load(session).default_amount_cents == -250
    response = admin_browser.post(
        "/admin/settings", {**form, "default_amount": "0"}, page="/admin/settings"
    )
    assert response.status_code == 400
    assert "Bitte einen Preis über 0 eingeben" in response.get_data(as_text=True)
    with database.session() as session:
        assert settings.load(session).default_amount_cents == -250


def test_settings_errors_are_shown_and_nothing_changes(admin_browser, database):
    response = admin_browser.post(
        "/admin/settings",
        {
            "organisation_name": "X",
            "default_amount": "0",
            "min_balance": "0",
            "currency": "EUR",
            "decimals": "2",
        },
        page="/admin/settings",
    )
    assert response.status_code == 400
    assert 'id="default_amount-error"' in response.get_data(as_text=True)
    with database.session() as session:
        assert settings.load(session) == settings.SystemSettings()


def test_audit_log_lists_admin_actions(admin_browser, member):
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/lock", {"locked": "1"}, page=page)
    html = admin_browser.get("/admin/audit?action=member.lock").get_data(as_text=True)
    table = html[html.index("<tbody>") :]
    assert "Mitglied gesperrt" in table
    assert "Anna Admin (1000000001)" in table
    assert "Mitglied angelegt" not in table
