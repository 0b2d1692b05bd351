"""Members see "Passwort vergessen?" and "E-Mail-Adresse ändern" only when mail goes out and
its links lead back (SMTP_HOST, SMTP_SENDER, PUBLIC_URL); otherwise whom to ask, and the pages
themselves refuse, sending and changing nothing."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from fvh.db.models import AccountToken, Member, OutboxMessage
from tests.web.conftest import PASSWORD

WORKING = {
    "smtp_host": "mail.example.org",  # only read: the outbox is sent by `fvh serve`'s worker
    "smtp_sender": "fvh@example.org",
    "public_url": "https://wache.example/fvh",
}
# Each way mail links can't work: no server, no sender, no or an unusable PUBLIC_URL.
BROKEN = [
    {"smtp_host": ""},
    {"smtp_sender": ""},
    {"public_url": ""},
    {"public_url": "wache.example/fvh"},
]


def configure(app, monkeypatch, **values) -> None:
    monkeypatch.setitem(app.config, "FVH", dataclasses.replace(app.config["FVH"], **values))


def _count(database, model) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_with_working_mail_the_links_are_offered(app, browser, member, monkeypatch):
    configure(app, monkeypatch, **WORKING)
    assert 'href="/account/forgot"' in browser.get("/login").get_data(as_text=True)
    browser.login(member.code)
    assert 'href="/account/email"' in browser.get("/").get_data(as_text=True)


@pytest.mark.parametrize("broken", BROKEN)
def test_without_mail_the_login_page_says_whom_to_ask(app, browser, monkeypatch, broken):
    configure(app, monkeypatch, **{**WORKING, **broken})
    html = browser.get("/login").get_data(as_text=True)
    assert 'href="/account/forgot"' not in html
    assert "Passwort vergessen? Bitte wenden Sie sich an die Kassenverwaltung." in html
    for name in ("SMTP", "PUBLIC_URL", ".env"):
        assert name not in html


def test_the_responsible_addresses_are_whom_to_ask_in_both_languages(app, browser, monkeypatch):
    configure(app, monkeypatch, responsible_email="kasse@example.org, wart@example.org")
    html = browser.get("/login").get_data(as_text=True)
    assert (
        'Bitte wenden Sie sich an: <a href="mailto:kasse@example.org">kasse@example.org</a>, '
        '<a href="mailto:wart@example.org">wart@example.org</a>'
    ) in html
    browser.client.set_cookie("fvh_lang", "en")
    html = browser.get("/login").get_data(as_text=True)
    assert "Forgot your password? Please contact: " in html
    assert 'href="mailto:kasse@example.org"' in html
    configure(app, monkeypatch, responsible_email="")
    assert "Please contact the treasurer." in browser.get("/login").get_data(as_text=True)


def test_without_mail_the_account_page_offers_no_address_change(member_browser):
    html = member_browser.get("/").get_data(as_text=True)
    assert 'href="/account/email"' not in html
    assert "Eine neue E-Mail-Adresse wird für Sie eingetragen." in html
    assert html.count("Kassenverwaltung") == 1  # whom to ask, said once
    assert 'href="/password"' in html  # changing the password needs no mail
    member_browser.client.set_cookie("fvh_lang", "en")
    html = member_browser.get("/").get_data(as_text=True)
    assert "A new e-mail address is entered for you. Please contact the treasurer." in html


@pytest.mark.parametrize("broken", BROKEN)
def test_without_mail_a_reset_is_refused_and_nothing_is_sent(
    app, browser, member, database, monkeypatch, broken
):
    configure(app, monkeypatch, **{**WORKING, **broken})
    page = browser.get("/account/forgot")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="no-mail"' in html
    assert (
        "Das geht hier nicht per E-Mail" in html and '<form method="post" novalidate>' not in html
    )
    response = browser.post("/account/forgot", {"email": member.email})
    assert response.status_code == 503
    assert "Bitte wenden Sie sich an die Kassenverwaltung." in response.get_data(as_text=True)
    assert _count(database, OutboxMessage) == 0
    assert _count(database, AccountToken) == 0


@pytest.mark.parametrize("broken", BROKEN)
def test_without_mail_an_address_change_is_refused_and_nothing_changes(
    app, member_browser, member, database, monkeypatch, broken
):
    configure(app, monkeypatch, **{**WORKING, **broken, "responsible_email": "kasse@example.org"})
    page = member_browser.get("/account/email")
    assert page.status_code == 200
    assert 'href="mailto:kasse@example.org"' in page.get_data(as_text=True)
    response = member_browser.post(
        "/account/email", {"email": "neu@example.org", "password": PASSWORD}, page="/"
    )
    assert response.status_code == 503
    assert "Das geht hier nicht per E-Mail" in response.get_data(as_text=True)
    assert _count(database, OutboxMessage) == 0
    assert _count(database, AccountToken) == 0
    with database.session() as session:
        assert session.get(Member, member.id).email == "max@example.org"


def test_the_refusal_in_english(browser):
    browser.client.set_cookie("fvh_lang", "en")
    html = browser.get("/account/forgot").get_data(as_text=True)
    assert "This cannot be done by e-mail here: sending mail is not set up." in html
    assert "Please contact the treasurer." in html


def test_without_mail_an_admin_changes_the_own_address_in_the_member_form(admin_browser, admin):
    html = admin_browser.get("/").get_data(as_text=True)
    assert f'href="/admin/members/{admin.id}/edit">E-Mail-Adresse ändern</a>' in html
    assert 'href="/account/email"' not in html and 'id="email-ask"' not in html
