"""Account mails end to end: GUI request -> outbox -> real SMTP server on loopback -> link."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from fvh.app import create_app
from fvh.core import audit, members, system_settings
from fvh.db.models import AccountToken, utcnow
from tests.mail.mails import NEW_PASSWORD, PUBLIC_URL, deliver, link_in, text_of
from tests.web.conftest import PASSWORD, Browser


def test_password_reset_by_mail_end_to_end(account_app, build, database, smtp_server, browser):
    member = build.member(
        code="7000000001", first_name="Erika", email="erika@example.org", password=PASSWORD
    )
    elsewhere = Browser(account_app.test_client())
    assert elsewhere.login(member.code).status_code == 302

    page = browser.get("/login").get_data(as_text=True)
    assert 'href="/account/forgot"' in page
    response = browser.post("/account/forgot", {"email": " Erika@Example.org "})
    assert response.status_code == 200
    assert "ist ein Link unterwegs" in response.get_data(as_text=True)

    [mail] = deliver(account_app, database, smtp_server, 1)
    assert mail["X-Envelope-To"] == "erika@example.org"
    assert "Passwort" in mail["Subject"]
    path = link_in(mail, "/account/reset")
    token = path.partition("token=")[2]
    with database.session() as session:  # only a hash of the token is kept
        [row] = session.scalars(select(AccountToken))
        assert row.purpose == "reset"
        assert token not in row.token_hash
        assert (row.expires_at - row.created_at).total_seconds() == 3600

    assert "Neues Passwort festlegen" in browser.get(path).get_data(as_text=True)
    response = browser.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page=path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"

    assert browser.login(member.code, PASSWORD).status_code == 200  # refused
    assert browser.login(member.code, NEW_PASSWORD).status_code == 302
    assert elsewhere.get("/").status_code == 302  # the other session ended
    # Single use: the link is gone, and a second POST changes nothing.
    assert browser.get(path).status_code == 410
    response = browser.client.post(
        path, data={"csrf_token": browser.token(path), "password": "x" * 12, "confirm": "x" * 12}
    )
    assert response.status_code == 410
    with database.session() as session:
        assert members.check_password(
            members.get_by_code(session, member.code), NEW_PASSWORD, "pbkdf2:sha256:1000"
        )


def test_reset_link_comes_from_public_url_never_from_the_request(
    mail_config, build, database, smtp_server
):
    """Even behind a trusted proxy, forged Host and X-Forwarded-* do not reach the mail."""
    app = create_app({**mail_config, "PUBLIC_URL": PUBLIC_URL + "/", "PROXY_FIX_HOPS": 1})
    try:
        build.member(code="7000000002", email="max@example.org")
        client = app.test_client()
        forged = {
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Prefix": "/phish",
        }
        evil = "http://attacker.example"
        page = client.get("/account/forgot", base_url=evil, headers=forged)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
        response = client.post(
            "/account/forgot",
            data={"csrf_token": token.group(1), "email": "max@example.org"},
            base_url=evil,
            headers={**forged, "Host": "attacker.example"},
        )
        assert response.status_code == 200
        [mail] = deliver(app, database, smtp_server, 1)
        body = text_of(mail) + mail.get_body(("html",)).get_content()
        assert f"{PUBLIC_URL}/account/reset?token=" in body
        assert "evil" not in body
        assert "attacker" not in body
        assert "phish" not in body
    finally:
        app.extensions["fvh_db"].dispose()


def test_expired_reset_link_is_refused_and_changes_nothing(
    account_app, build, database, smtp_server, browser
):
    member = build.member(code="7000000003", email="old@example.org", password=PASSWORD)
    browser.post("/account/forgot", {"email": "old@example.org"})
    [mail] = deliver(account_app, database, smtp_server, 1)
    path = link_in(mail, "/account/reset")
    with database.session() as session:
        session.execute(update(AccountToken).values(expires_at=utcnow().replace(year=2020)))
    assert browser.get(path).status_code == 410
    response = browser.client.post(
        path,
        data={"csrf_token": browser.token(path), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 410
    assert "abgelaufen" in response.get_data(as_text=True)
    assert browser.login(member.code, PASSWORD).status_code == 302


def test_new_email_address_is_verified_by_a_link(
    account_app, build, database, smtp_server, browser
):
    member = build.member(
        code="7000000004", first_name="Ida", email="ida@example.org", password=PASSWORD
    )
    browser.login(member.code)
    response = browser.post(
        "/account/email",
        {"email": "Ida.Neu@Example.org", "password": PASSWORD},
        page="/account/email",
    )
    assert response.status_code == 302
    [mail] = deliver(account_app, database, smtp_server, 1)
    assert mail["X-Envelope-To"] == "ida.neu@example.org"  # the NEW address
    assert "ida.neu@example.org" in text_of(mail)
    path = link_in(mail, "/account/email/confirm")
    with database.session() as session:  # nothing changes before the link is opened
        assert members.get_by_code(session, member.code).email == "ida@example.org"

    page = browser.get(path)  # a GET (e.g. a mail scanner) only shows the button
    assert "ida.neu@example.org" in page.get_data(as_text=True)
    with database.session() as session:
        assert members.get_by_code(session, member.code).email == "ida@example.org"
    response = browser.post(path, page=path)
    assert response.status_code == 302
    with database.session() as session:
        assert members.get_by_code(session, member.code).email == "ida.neu@example.org"
    assert browser.get(path).status_code == 410  # single use


def test_admin_creating_a_member_with_an_address_sends_the_welcome_mail(
    account_app, build, database, smtp_server, browser
):
    build.member(code="1000000001", first_name="Anna", is_admin=True, password=PASSWORD)
    assert browser.login("1000000001").status_code == 302
    response = browser.post(
        "/admin/members/new",
        {"first_name": "Willi", "last_name": "Neu", "email": "willi@example.org"},
        page="/admin/members/new",
    )
    assert response.status_code == 302
    browser.post(
        "/admin/members/new",
        {"first_name": "Ohne", "last_name": "Adresse"},
        page="/admin/members/new",
    )
    [mail] = deliver(account_app, database, smtp_server, 1)
    with database.session() as session:
        willi = session.scalar(
            select(members.Member).where(members.Member.email == "willi@example.org")
        )
        code = willi.code
    assert mail["X-Envelope-To"] == "willi@example.org"
    assert code in mail["Subject"]
    text = text_of(mail)
    assert "Hallo Willi" in text
    assert f"Dein Code: {code}" in text
    assert f"{PUBLIC_URL}/login" in text
    assert f"{PUBLIC_URL}/account/forgot" in text


def test_registration_tells_the_admins_and_approval_welcomes_the_member(
    account_app, build, database, smtp_server, browser
):
    with database.session() as session:
        system_settings.update(session, audit.Actor.system("tests"), self_registration=True)
    response = browser.post(
        "/register",
        {
            "first_name": "Rita",
            "last_name": "Neu",
            "email": "rita@example.org",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        page="/register",
    )
    assert response.status_code == 200
    [to_admins] = deliver(account_app, database, smtp_server, 1)
    assert to_admins["X-Envelope-To"] == "kasse@feuerwehr.example, wart@feuerwehr.example"
    assert "Rita Neu" in to_admins["Subject"]
    assert f"{PUBLIC_URL}/admin/" in text_of(to_admins)
    assert browser.login("rita@example.org", NEW_PASSWORD).status_code == 200  # still locked

    with database.session() as session:
        rita = session.scalar(
            select(members.Member).where(members.Member.email == "rita@example.org")
        )
        rita_id, code = rita.id, rita.code
    build.member(code="1000000001", is_admin=True, password=PASSWORD)
    admin = Browser(account_app.test_client())
    admin.login("1000000001")
    assert admin.post(f"/admin/members/{rita_id}/approve", page="/admin/").status_code == 302

    mails = deliver(account_app, database, smtp_server, 2)
    welcome = mails[1]
    assert welcome["X-Envelope-To"] == "rita@example.org"
    assert f"Dein Code: {code}" in text_of(welcome)
    assert browser.login("rita@example.org", NEW_PASSWORD).status_code == 302
