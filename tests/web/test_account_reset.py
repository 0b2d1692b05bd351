"""Forgotten password: same answer for every address, limits, refusals, unusable links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fvh.app import create_app
from fvh.config import Config
from fvh.core import account_links, notify
from fvh.core.errors import ValidationError
from fvh.db.models import AccountToken, OutboxMessage, utcnow
from fvh.ops import doctor, maintenance
from tests.web.conftest import PASSWORD, Browser

PUBLIC_URL = "https://station.example/fvh"
NEW_PASSWORD = "ganz-neues-passwort-7"
APP_SECRET = "test-secret-of-the-account-links-0123456789"


# Mail that goes out (read only: the outbox is sent by `fvh serve`'s worker, not in these tests).
MAIL = {"SMTP_HOST": "mail.example.org", "SMTP_SENDER": "fvh@example.org"}


@pytest.fixture
def config(config):
    return {**config, **MAIL, "PUBLIC_URL": PUBLIC_URL, "APP_SECRET": APP_SECRET}


def outbox(database, template: str | None = None) -> list[OutboxMessage]:
    with database.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def link_path(message: OutboxMessage, path: str) -> str:
    """The link to `path` in an outbox message as the sender mails it (the outbox keeps only a
    seal), below PUBLIC_URL (for the test client)."""
    text = notify.unseal(message.body_text, APP_SECRET)
    match = re.search(re.escape(PUBLIC_URL + path) + r"\?token=[A-Za-z0-9_%-]+", text)
    assert match, text
    return match.group(0).removeprefix(PUBLIC_URL)


def request_reset(browser: Browser, email: str):
    return browser.post("/account/forgot", {"email": email}, page="/account/forgot")


def _answer(response) -> str:
    """The visible answer, without the per-request CSRF token."""
    return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))


def test_login_page_links_to_the_forgot_password_page(browser):
    html = browser.get("/login").get_data(as_text=True)
    assert 'href="/account/forgot"' in html
    assert 'href="/register"' not in html  # self-registration is off by default
    page = browser.get("/account/forgot")
    assert page.status_code == 200
    assert 'name="email"' in page.get_data(as_text=True)


def test_known_and_unknown_addresses_get_the_same_answer(browser, member, database):
    known = request_reset(browser, member.email)
    unknown = request_reset(browser, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert _answer(known) == _answer(unknown)
    [message] = outbox(database)
    assert message.template == "password_reset"
    assert message.recipient == member.email


def test_requests_are_limited_per_member_without_telling(browser, member, database):
    answers = {_answer(request_reset(browser, member.email)) for _ in range(5)}
    assert len(answers) == 1
    assert len(outbox(database, "password_reset")) == account_links.MAX_PER_HOUR


def test_locked_member_gets_no_reset_mail(browser, build, database):
    locked = build.member(code="3000000003", email="locked@example.org", locked=True)
    assert request_reset(browser, locked.email).status_code == 200
    assert outbox(database) == []


def test_not_an_address_is_a_form_error(browser, database):
    response = request_reset(browser, "kein-at-zeichen")
    assert response.status_code == 400
    assert outbox(database) == []


@pytest.mark.parametrize("public_url", ["", "station.example/fvh", "ftp://station.example"])
def test_without_a_valid_public_url_reset_is_refused_and_names_whom_to_ask(
    config, member, database, public_url
):
    """The member is told whom to ask; why is the admins' business (the System page)."""
    app = create_app({**config, "PUBLIC_URL": public_url})
    try:
        browser = Browser(app.test_client())
        page = browser.get("/account/forgot")
        assert page.status_code == 200
        assert "Kassenverwaltung" in page.get_data(as_text=True)
        assert "PUBLIC_URL" not in page.get_data(as_text=True)
        response = request_reset(browser, member.email)
        assert response.status_code == 503
        assert "Kassenverwaltung" in response.get_data(as_text=True)
    finally:
        app.extensions["fvh_db"].dispose()
    assert outbox(database) == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AccountToken)) == 0


def test_reset_page_without_a_token_leads_to_the_request_form(browser):
    response = browser.get("/account/reset")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/forgot"


@pytest.mark.parametrize(
    "token", ["x", "A" * 43, "nicht-echt-aber-lang-genug-0123456789abcdefg", "A" * 500]
)
def test_unknown_or_tampered_tokens_are_refused(browser, member, database, token):
    request_reset(browser, member.email)
    real = link_path(outbox(database)[0], "/account/reset").partition("token=")[2]
    for candidate in (token, real[:-1] + ("A" if real[-1] != "A" else "B")):
        path = f"/account/reset?token={candidate}"
        assert browser.get(path).status_code == 400
        response = browser.client.post(
            path,
            data={
                "csrf_token": browser.token(),
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
            },
        )
        assert response.status_code == 400
        assert "ungültig" in response.get_data(as_text=True)
    assert browser.login(member.code, PASSWORD).status_code == 302


def test_a_bad_new_password_keeps_the_link_usable(browser, member, database):
    request_reset(browser, member.email)
    path = link_path(outbox(database)[0], "/account/reset")
    short = browser.post(path, {"password": "kurz", "confirm": "kurz"}, page=path)
    assert short.status_code == 400
    assert "10 bis 128" in short.get_data(as_text=True)
    mismatch = browser.post(path, {"password": NEW_PASSWORD, "confirm": "anders-12345"}, page=path)
    assert mismatch.status_code == 400
    done = browser.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page=path)
    assert done.status_code == 302
    assert browser.login(member.code, NEW_PASSWORD).status_code == 302


def test_using_one_link_uses_up_the_others(browser, member, database):
    request_reset(browser, member.email)
    request_reset(browser, member.email)
    first, second = (link_path(m, "/account/reset") for m in outbox(database))
    browser.post(second, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page=second)
    assert browser.get(first).status_code == 410


def test_expired_link_is_gone(browser, member, database):
    request_reset(browser, member.email)
    path = link_path(outbox(database)[0], "/account/reset")
    with database.session() as session:
        session.execute(update(AccountToken).values(expires_at=utcnow()))
    response = browser.get(path)
    assert response.status_code == 410
    assert 'href="/account/forgot"' in response.get_data(as_text=True)


def test_an_email_verification_link_does_not_reset_a_password(member_browser, member, database):
    member_browser.post(
        "/account/email",
        {"email": "neu@example.org", "password": PASSWORD},
        page="/account/email",
    )
    token = link_path(outbox(database)[0], "/account/email/confirm").partition("token=")[2]
    assert member_browser.get(f"/account/reset?token={token}").status_code == 400


def test_reset_pages_in_english(browser, member):
    browser.client.set_cookie("fvh_lang", "en")
    assert "Request link" in browser.get("/account/forgot").get_data(as_text=True)
    answer = request_reset(browser, member.email).get_data(as_text=True)
    assert "a link is on its way" in answer


def test_no_address_never_matches_members_without_one(build, database):
    build.member(code="3000000003")  # no e-mail address
    links = account_links.Links(*(f"{PUBLIC_URL}/x" for _ in range(5)), app_secret="s" * 32)
    with database.session() as session, pytest.raises(ValidationError):
        account_links.request_password_reset(session, "  ", links)
    assert outbox(database) == []


def test_maintenance_forgets_long_expired_tokens(app, browser, member, database):
    request_reset(browser, member.email)
    request_reset(browser, member.email)
    with database.session() as session:
        first = session.scalar(select(AccountToken.id).order_by(AccountToken.id))
        session.execute(
            update(AccountToken)
            .where(AccountToken.id == first)
            .values(expires_at=utcnow() - timedelta(days=2))
        )
    assert maintenance.run(database, app.config["FVH"]).account_tokens == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AccountToken)) == 1


@pytest.mark.parametrize(
    ("public_url", "level"), [("", "warning"), ("station.example", "error"), (PUBLIC_URL, None)]
)
def test_doctor_says_when_links_in_mails_are_off(public_url, level):
    findings = [
        f for f in doctor.check_config(Config(public_url=public_url)) if "PUBLIC_URL" in f.message
    ]
    assert [f.level for f in findings] == ([level] if level else [])
