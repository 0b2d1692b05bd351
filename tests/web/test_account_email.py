"""A new e-mail address counts only after the link sent to it has been opened."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import update

from fvh.core import account_links, members
from fvh.db.models import AccountToken, utcnow
from tests.web.conftest import PASSWORD, Browser
from tests.web.test_account_reset import (
    APP_SECRET,
    MAIL,
    PUBLIC_URL,
    link_path,
    outbox,
    request_reset,
)


@pytest.fixture
def config(config):
    return {**config, **MAIL, "PUBLIC_URL": PUBLIC_URL, "APP_SECRET": APP_SECRET}


def ask_for(browser, email: str, password: str = PASSWORD):
    return browser.post(
        "/account/email", {"email": email, "password": password}, page="/account/email"
    )


def email_of(database, code: str) -> str | None:
    with database.session() as session:
        return members.get_by_code(session, code).email


def test_the_page_needs_a_login(browser):
    response = browser.get("/account/email")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_the_page_shows_the_current_address(member_browser, member):
    page = member_browser.get("/account/email")
    assert page.status_code == 200
    assert member.email in page.get_data(as_text=True)


def test_request_sends_a_link_to_the_new_address_and_changes_nothing_yet(
    member_browser, member, database
):
    response = ask_for(member_browser, "Max.Neu@Example.org")
    assert response.status_code == 302
    [message] = outbox(database)
    assert message.template == "email_verification"
    assert message.recipient == "max.neu@example.org"
    assert email_of(database, member.code) == member.email
    flash = member_browser.get("/account/email").get_data(as_text=True)
    assert "max.neu@example.org" in flash


@pytest.mark.parametrize(
    ("email", "password", "text"),
    [
        ("neu@example.org", "falsches-passwort", "Passwort ist falsch"),
        ("max@example.org", PASSWORD, "bereits Ihre E-Mail-Adresse"),
        ("kein-at-zeichen", PASSWORD, "Keine gültige E-Mail-Adresse"),
    ],
)
def test_refused_requests_send_nothing(member_browser, member, database, email, password, text):
    response = ask_for(member_browser, email, password)
    assert response.status_code == 400
    assert text in response.get_data(as_text=True)
    assert outbox(database) == []


def test_a_taken_address_gets_the_answer_of_a_free_one(member_browser, build, database):
    """No enumeration: the page never says an address is taken; its owner gets a mail, no link."""
    build.member(code="3000000003", first_name="Anna", email="anna@example.org")
    taken = ask_for(member_browser, "Anna@Example.org")
    taken_page = member_browser.get("/account/email").get_data(as_text=True)
    free = ask_for(member_browser, "frei@example.org")
    free_page = member_browser.get("/account/email").get_data(as_text=True)
    assert taken.status_code == free.status_code == 302
    assert "bereits vergeben" not in taken_page
    assert taken_page.replace("anna@example.org", "frei@example.org") == free_page.replace(
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', free_page).group(1),
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', taken_page).group(1),
    )
    to_owner, to_free = outbox(database)
    assert (to_owner.template, to_owner.recipient) == ("email_taken", "anna@example.org")
    assert "token=" not in to_owner.body_text + to_owner.body_html
    assert (to_free.template, to_free.recipient) == ("email_verification", "frei@example.org")


def test_requests_are_limited_per_hour(member_browser, database):
    statuses = [ask_for(member_browser, f"neu{n}@example.org").status_code for n in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert len(outbox(database)) == account_links.MAX_PER_HOUR


def test_confirmation_checks_the_address_is_still_free(member_browser, member, build, database):
    ask_for(member_browser, "begehrt@example.org")
    path = link_path(outbox(database)[0], "/account/email/confirm")
    build.member(code="3000000003", email="begehrt@example.org")  # taken in the meantime
    response = member_browser.post(path, page=path)
    assert response.status_code == 409
    assert email_of(database, member.code) == member.email


def test_link_works_without_a_login_once_and_uses_up_reset_links(
    app, member_browser, member, database
):
    request_reset(member_browser, member.email)
    ask_for(member_browser, "neu@example.org")
    reset_path = link_path(outbox(database, "password_reset")[0], "/account/reset")
    path = link_path(outbox(database, "email_verification")[0], "/account/email/confirm")
    member_browser.logout()
    phone = Browser(app.test_client())
    page = phone.get(path)
    assert page.status_code == 200
    assert "neu@example.org" in page.get_data(as_text=True)
    assert email_of(database, member.code) == member.email  # GET changes nothing
    response = phone.post(path, page=path)
    assert response.status_code == 302
    assert email_of(database, member.code) == "neu@example.org"
    assert phone.post(path, page="/login").status_code == 410
    # The reset link went to the old address: it no longer opens anything.
    assert phone.get(reset_path).status_code == 410


def test_expired_link_changes_nothing(member_browser, member, database):
    ask_for(member_browser, "neu@example.org")
    path = link_path(outbox(database)[0], "/account/email/confirm")
    with database.session() as session:
        session.execute(update(AccountToken).values(expires_at=utcnow()))
    assert member_browser.get(path).status_code == 410
    assert member_browser.post(path, page="/account/email").status_code == 410
    assert email_of(database, member.code) == member.email


def test_confirmation_page_without_a_token_goes_home(browser):
    response = browser.get("/account/email/confirm")
    assert response.status_code == 302


def test_refused_without_public_url(app, member_browser, member, database):
    app.config["FVH"] = dataclasses.replace(app.config["FVH"], public_url="")
    response = ask_for(member_browser, "neu@example.org")
    assert response.status_code == 503
    assert "Kassenverwaltung" in response.get_data(as_text=True)
    assert "PUBLIC_URL" not in response.get_data(as_text=True)
    assert outbox(database) == []
