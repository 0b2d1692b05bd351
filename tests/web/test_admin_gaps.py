"""Admin: token names, who-booked filter, export before delete,
confirmation of irreversible one-click actions, and the responsible threshold setting."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import re

import pytest
from sqlalchemy import select

from fvh.core import audit, ledger, tokens
from fvh.core import system_settings as settings
from fvh.core.errors import ValidationError
from fvh.db.models import ApiKey, AuditEntry, Member, OutboxMessage, Token
from tests.builders import TEST_ACTOR
from tests.web.conftest import PASSWORD, Browser

# --- 1. mail warnings: on the System page now (tests/web/test_admin_system.py) -------------


# --- 2. tokens get a new name ---------------------------------------------------------------


def _token(database, data: bytes) -> Token:
    with database.session() as session:
        return session.scalar(select(Token).where(Token.data == data))


def test_rename_a_token_on_the_member_page(admin_browser, member, build, database):
    build.token(member, b"\x04\xa2", name="Chip")
    token = _token(database, b"\x04\xa2")
    page = f"/admin/members/{member.id}"
    html = admin_browser.get(page).get_data(as_text=True)
    assert f'action="/admin/tokens/{token.id}/rename"' in html
    response = admin_browser.post(
        f"/admin/tokens/{token.id}/rename", {"name": "  Handy Max  "}, page=page
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{page}#tokens"
    assert _token(database, b"\x04\xa2").name == "Handy Max"
    html = admin_browser.get(page).get_data(as_text=True)
    assert "Token 04:A2 umbenannt." in html
    with database.session() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "token.rename"))
        assert entry.target == member.code
        assert "Chip" in entry.before and "Handy Max" in entry.after
        assert entry.actor_label == "Anna Admin (1000000001)"


def test_a_too_long_token_name_is_refused(admin_browser, member, build, database):
    build.token(member, b"\x05", name="Chip")
    token = _token(database, b"\x05")
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(
        f"/admin/tokens/{token.id}/rename", {"name": "x" * 256}, page=page, follow_redirects=True
    )
    assert "höchstens 255 Zeichen" in response.get_data(as_text=True)
    assert _token(database, b"\x05").name == "Chip"
    assert admin_browser.post("/admin/tokens/999999/rename", {"name": "x"}).status_code == 404


def test_token_list_shows_owner_name_hex_and_last_use_page_by_page(
    admin_browser, build, database, client
):
    anna = build.member(code="3000000003", first_name="Zoe", last_name="Zander")
    bert = build.member(code="3000000004", first_name="Bert", last_name="Adler", balance_cents=500)
    build.token(anna, b"\xaa\x01", name="Schlüssel Zoe")
    build.token(bert, b"\xbb\x02", name="Handy Bert")
    key = build.api_key()
    tapped = client.put(
        "/api/nfc-transaktion",
        json={"token": base64.b64encode(b"\xbb\x02").decode(), "beschreibung": "Theke"},
        headers={"X-API-Key": key},
    )
    assert tapped.status_code == 200
    html = admin_browser.get("/admin/tokens/").get_data(as_text=True)
    assert "(2)" in html
    assert html.index("Adler, Bert") < html.index("Zander, Zoe")  # by owner
    assert "Handy Bert" in html and "BB:02" in html and "AA:01" in html
    assert html.count("nie benutzt") == 1  # Bert's was just used
    assert f'href="/admin/members/{anna.id}#tokens"' in html
    for n in range(55):
        build.token(anna, bytes([0xCC, n]), name=f"Karte {n}")
    first = admin_browser.get("/admin/tokens/").get_data(as_text=True)
    assert "Seite 1 von 2" in first
    second = admin_browser.get("/admin/tokens/?page=2").get_data(as_text=True)
    shown = len(re.findall(r'<td class="mono"', first)) + len(
        re.findall(r'<td class="mono"', second)
    )
    assert shown == 57
    assert "/admin/tokens/" in admin_browser.get("/admin/tokens/unknown").get_data(as_text=True)


def test_rename_in_the_domain_is_audited_only_when_it_changes(member, build, database):
    build.token(member, b"\x06", name="Chip")
    with database.session() as session:
        token = session.scalar(select(Token).where(Token.data == b"\x06"))
        tokens.rename(session, token, "Chip", TEST_ACTOR)
        assert audit.list_entries(session, action="token.rename").total == 0
        tokens.rename(session, token, "", TEST_ACTOR)  # a name is optional
        assert token.name == ""
        with pytest.raises(ValidationError) as refused:
            tokens.rename(session, token, "y" * 256, TEST_ACTOR)
        assert refused.value.field == "name"


# --- 3. the journal filtered by who booked --------------------------------------------------


@pytest.fixture
def three_bookers(admin_browser, build, member, client):
    """One entry each by the system (tests), an admin in the GUI and a terminal."""
    with_balance = build.member(code="3000000003", first_name="Sys", balance_cents=500)
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/book", {"amount": "20", "description": "Einzahlung"}, page=page)
    build.token(member, b"\x07\x07")
    key = build.api_key(client="Kasse Theke")
    tapped = client.put(
        "/api/nfc-transaktion",
        json={"token": base64.b64encode(b"\x07\x07").decode(), "beschreibung": "Kühlschrank"},
        headers={"X-API-Key": key},
    )
    assert tapped.status_code == 200, tapped.get_data(as_text=True)
    return with_balance


def _csv_descriptions(response) -> list[str]:
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return [row[5] for row in list(csv.reader(io.StringIO(text), delimiter=";"))[1:]]


def test_journal_filters_by_kind_of_booker(admin_browser, three_bookers):
    def shown(query: str) -> set[str]:
        html = admin_browser.get(f"/admin/journal?{query}").get_data(as_text=True)
        return {text for text in ("Startguthaben", "Einzahlung", "Kühlschrank") if text in html}

    assert shown("by_kind=terminal") == {"Kühlschrank"}
    assert shown("by_kind=admin") == {"Einzahlung"}
    assert shown("by_kind=system") == {"Startguthaben"}
    assert shown("by_kind=bogus") == {"Startguthaben", "Einzahlung", "Kühlschrank"}
    html = admin_browser.get("/admin/journal?by_kind=terminal").get_data(as_text=True)
    assert '<option value="terminal" selected>' in html


def test_journal_filters_by_booker_text_and_the_csv_follows(admin_browser, three_bookers):
    html = admin_browser.get("/admin/journal?by=kasse").get_data(as_text=True)
    assert "Kühlschrank" in html
    assert "Einzahlung" not in html
    assert 'href="/admin/journal.csv?by=kasse"' in html
    assert _csv_descriptions(admin_browser.get("/admin/journal.csv?by=kasse")) == ["Kühlschrank"]
    assert _csv_descriptions(admin_browser.get("/admin/journal.csv?by=anna+admin")) == [
        "Einzahlung"
    ]
    assert _csv_descriptions(admin_browser.get("/admin/journal.csv?by_kind=system")) == [
        "Startguthaben"
    ]


def test_journal_filter_in_the_domain(database, three_bookers):
    with database.session() as session:
        page = ledger.journal(
            session, ledger.JournalFilter(booked_by="API", booked_by_kind="terminal")
        )
        assert [row.description for row in page.rows] == ["Kühlschrank"]
        assert ledger.journal(session, ledger.JournalFilter(booked_by="niemand")).total == 0


# --- 4. export before deleting a journal ----------------------------------------------------


def test_delete_one_journal_offers_the_export_of_exactly_that(admin_browser, build, database):
    member = build.member(code="3000000003", first_name="Weg", balance_cents=700)
    build.member(code="3000000004", first_name="Bleibt", balance_cents=300)
    html = admin_browser.get(f"/admin/journal/delete?member={member.id}").get_data(as_text=True)
    link = re.search(r'id="export-first" href="([^"]+)"', html).group(1)
    assert link == "/admin/journal.csv?member=3000000003"
    response = admin_browser.get(link)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    assert [row[2] for row in rows] == ["3000000003"]
    assert build.balance("3000000003") == 700  # looking and exporting deletes nothing


def test_delete_all_journals_offers_the_full_export(admin_browser, build):
    build.member(code="3000000003", balance_cents=700)
    build.member(code="3000000004", balance_cents=300)
    html = admin_browser.get("/admin/journal/delete").get_data(as_text=True)
    link = re.search(r'id="export-first" href="([^"]+)"', html).group(1)
    assert link == "/admin/journal.csv"
    assert len(_csv_descriptions(admin_browser.get(link))) == 2


def test_other_confirmations_have_no_export_link(admin_browser, member):
    html = admin_browser.get(f"/admin/members/{member.id}/delete").get_data(as_text=True)
    assert "export-first" not in html


# --- 5. irreversible one-click actions need a confirming second POST ------------------------


def test_password_reset_asks_first(app, admin_browser, member, database):
    page = f"/admin/members/{member.id}"
    with database.session() as session:
        before = session.get(Member, member.id).password_hash
    response = admin_browser.post(f"{page}/password", page=page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="secret"' not in html
    assert 'name="confirm" value="1"' in html
    assert f'action="{page}/password"' in html
    assert 'name="csrf_token"' in html
    for data in ({}, {"confirm": "0"}, {"confirm": "yes"}):
        admin_browser.post(f"{page}/password", data, page=page)
    with database.session() as session:
        assert session.get(Member, member.id).password_hash == before
    assert Browser(app.test_client()).login(member.code, PASSWORD).status_code == 302
    response = admin_browser.post(f"{page}/password", {"confirm": "1"}, page=page)
    assert 'id="secret"' in response.get_data(as_text=True)
    with database.session() as session:
        assert session.get(Member, member.id).password_hash != before


def test_confirm_step_still_needs_csrf(admin_browser, member):
    response = admin_browser.client.post(
        f"/admin/members/{member.id}/password", data={"confirm": "1"}
    )
    assert response.status_code == 400


def test_token_removal_asks_first(admin_browser, member, build, database):
    build.token(member, b"\x08", name="Chip")
    token = _token(database, b"\x08")
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(f"/admin/tokens/{token.id}/delete", page=page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "08" in html and "Max Muster" in html
    assert 'name="confirm" value="1"' in html
    assert _token(database, b"\x08") is not None
    response = admin_browser.post(f"/admin/tokens/{token.id}/delete", {"confirm": "1"}, page=page)
    assert response.status_code == 302
    assert _token(database, b"\x08") is None


def test_key_revocation_asks_first(admin_browser, build, database, client):
    key = build.api_key(client="Kasse")
    with database.session() as session:
        row = session.scalar(select(ApiKey))
        key_id, client_id = row.id, row.client_id
    page = f"/admin/api-clients/{client_id}"
    response = admin_browser.post(f"/admin/api-keys/{key_id}/revoke", page=page)
    assert response.status_code == 200
    assert "Kasse" in response.get_data(as_text=True)
    assert client.get("/api/version", headers={"X-API-Key": key}).status_code == 200
    response = admin_browser.post(f"/admin/api-keys/{key_id}/revoke", {"confirm": "1"}, page=page)
    assert response.headers["Location"] == page
    assert client.get("/api/version", headers={"X-API-Key": key}).status_code == 401


# --- 6. the responsible threshold on the settings page --------------------------------------

SETTINGS_FORM = {
    "organisation_name": "FF Musterdorf",
    "default_amount": "-1",
    "min_balance": "-20",
    "currency": "EUR",
    "decimals": "2",
}


def test_settings_page_sets_the_responsible_threshold(admin_browser, database, build):
    html = admin_browser.get("/admin/settings").get_data(as_text=True)
    assert 'id="responsible_threshold"' in html
    response = admin_browser.post(
        "/admin/settings",
        {**SETTINGS_FORM, "responsible_threshold": "-5,50"},
        page="/admin/settings",
    )
    assert response.status_code == 302
    with database.session() as session:
        assert settings.load(session).responsible_threshold_cents == -550
    html = admin_browser.get("/admin/settings").get_data(as_text=True)
    assert 'value="-5,50"' in html
    # An empty field keeps it.
    admin_browser.post("/admin/settings", SETTINGS_FORM, page="/admin/settings")
    with database.session() as session:
        assert settings.load(session).responsible_threshold_cents == -550
    # And notify uses it: falling below -5,50 writes to the responsible persons.
    someone = build.member(code="3000000003")
    with database.session() as session:
        ledger.book(session, someone.id, -500, "Grillfest", TEST_ACTOR)
        ledger.book(session, someone.id, -100, "Grillfest", TEST_ACTOR)
        templates = list(session.scalars(select(OutboxMessage.template)))
    assert templates.count("responsible_low_balance") == 1


@pytest.mark.parametrize(
    "value",
    ["zehn", "-1,234", "99999999999"],
)
def test_bad_responsible_threshold_is_shown_and_nothing_changes(admin_browser, database, value):
    response = admin_browser.post(
        "/admin/settings",
        {**SETTINGS_FORM, "responsible_threshold": value},
        page="/admin/settings",
    )
    assert response.status_code == 400
    assert 'id="responsible_threshold-error"' in response.get_data(as_text=True)
    with database.session() as session:
        assert settings.load(session) == settings.SystemSettings()


def test_responsible_threshold_range_is_checked_in_the_domain():
    base = settings.SystemSettings()
    settings.validate(dataclasses.replace(base, responsible_threshold_cents=-1000))
    for bad in (10_000_000_01, -10_000_000_01, True):
        with pytest.raises(ValidationError) as refused:
            settings.validate(dataclasses.replace(base, responsible_threshold_cents=bad))
        assert refused.value.field == "responsible_threshold_cents"
    with pytest.raises(ValidationError):
        settings.validate(dataclasses.replace(base, decimals=0, responsible_threshold_cents=-150))
