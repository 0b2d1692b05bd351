"""No usable link at rest: the outbox and `fvh backup` hold no working token, the mail does."""

from __future__ import annotations

import gzip
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from fvh.app import create_app
from fvh.db.models import OutboxMessage
from fvh.ops.cli import main
from fvh.ops.mail import send_due, smtp_settings
from tests.mail.mails import NEW_PASSWORD, PUBLIC_URL, link_in
from tests.web.conftest import PASSWORD, Browser

# Whatever follows "token=" in a link, sealed or not.
LINK = re.compile(r"/account/(reset|email/confirm)\?token=([^\s\"'<>&]+)")


@pytest.fixture
def app_config(mail_config):
    return {**mail_config, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def account_app(app_config):
    app = create_app(app_config)
    yield app
    app.extensions["fvh_db"].dispose()


def _backup(app_config, tmp_path, name: str) -> str:
    """`fvh backup` as an operator runs it; the file's whole text."""
    file = tmp_path / name
    env = {key: str(value) for key, value in app_config.items() if key.isupper()}
    result = CliRunner().invoke(main, ["backup", str(file)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with gzip.open(file, "rt", encoding="utf-8") as stream:
        return stream.read()


def _outbox_text(database) -> str:
    with database.session() as session:
        return "\n".join(
            f"{m.subject}\n{m.body_text}\n{m.body_html}"
            for m in session.scalars(select(OutboxMessage))
        )


def _found_links(text: str) -> list[str]:
    return [f"/account/{m.group(1)}?token={m.group(2)}" for m in LINK.finditer(text)]


def _assert_nothing_opens(browser: Browser, links: list[str]) -> None:
    for link in links:
        assert browser.get(link).status_code == 400, link
        unquoted = link.replace("%7E", "~")
        assert browser.get(unquoted).status_code == 400, unquoted


def test_a_reset_link_is_neither_in_the_outbox_nor_in_a_backup(
    account_app, app_config, build, database, smtp_server, tmp_path
):
    member = build.member(code="7100000001", email="erika@example.org", password=PASSWORD)
    browser = Browser(account_app.test_client())
    assert browser.post("/account/forgot", {"email": "erika@example.org"}).status_code == 200

    before = _backup(app_config, tmp_path, "before.gz")
    waiting = _outbox_text(database)
    found = _found_links(before + waiting)
    assert found  # the mail is there, with a link whose secret part is sealed
    _assert_nothing_opens(browser, found)

    assert send_due(database, smtp_settings(account_app.config["FVH"])).sent == 1
    [mail] = smtp_server.inbox.wait_for(1)
    path = link_in(mail, "/account/reset")
    token = path.partition("token=")[2]
    after = _backup(app_config, tmp_path, "after.gz")
    kept = _outbox_text(database)
    for text in (before, waiting, after, kept):
        assert token not in text
    assert "fvh-seal" not in after + kept  # the nonce is gone once the mail is out
    _assert_nothing_opens(browser, _found_links(after + kept))

    # The delivered mail still works.
    assert "Neues Passwort festlegen" in browser.get(path).get_data(as_text=True)
    response = browser.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page=path)
    assert response.status_code == 302
    assert browser.login(member.code, NEW_PASSWORD).status_code == 302


def test_a_verification_link_is_neither_in_the_outbox_nor_in_a_backup(
    account_app, app_config, build, database, smtp_server, tmp_path
):
    member = build.member(code="7100000002", email="ida@example.org", password=PASSWORD)
    browser = Browser(account_app.test_client())
    browser.login(member.code)
    response = browser.post(
        "/account/email",
        {"email": "ida.neu@example.org", "password": PASSWORD},
        page="/account/email",
    )
    assert response.status_code == 302

    before = _backup(app_config, tmp_path, "before.gz")
    found = _found_links(before + _outbox_text(database))
    assert found
    _assert_nothing_opens(browser, found)

    assert send_due(database, smtp_settings(account_app.config["FVH"])).sent >= 1
    mails = smtp_server.inbox.wait_for(1)
    [mail] = [m for m in mails if m["X-Envelope-To"] == "ida.neu@example.org"]
    path = link_in(mail, "/account/email/confirm")
    token = path.partition("token=")[2]
    after = _backup(app_config, tmp_path, "after.gz")
    assert token not in before + after + _outbox_text(database)

    assert browser.post(path, page=path).status_code == 302
    assert browser.get(path).status_code == 410  # it was the working one, and is used up
