"""The System page tells admins what the configuration lacks, with the fix; the dashboard says
so in one line; members never see the configuration's names."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from fvh.core import tokens
from fvh.db.models import OutboxMessage, utcnow
from fvh.http import access
from fvh.web.admin import status

FULL = {
    "SMTP_HOST": "mail.example.org",  # only read: nothing connects in these tests
    "SMTP_SENDER": "fvh@example.org",
    "PUBLIC_URL": "https://wache.example/fvh",
    "RESPONSIBLE_EMAIL": "kasse@example.org, wart@example.org",
}


def configure(app, monkeypatch, **values) -> None:
    """Settings as .env gives them, for this app (the pages read them per request)."""
    changed = dataclasses.replace(app.config["FVH"], **{k.lower(): v for k, v in values.items()})
    monkeypatch.setitem(app.config, "FVH", changed)


def section(html: str, key: str) -> str | None:
    match = re.search(rf'<section[^>]*id="{key}-status".*?</section>', html, re.S)
    return match.group(0) if match else None


def hint(html: str) -> str | None:
    match = re.search(r'<p class="system-hint" id="system-hint".*?</p>', html, re.S)
    return match.group(0) if match else None


def _queue_mail(database, count: int) -> None:
    """Unknown tokens make the app write to the outbox (a message to RESPONSIBLE_EMAIL each)."""
    with database.session() as session:
        for n in range(count):
            tokens.record_unknown_scan(session, bytes([0xA0, n]), "Terminal 1")


def _change_outbox(database, **values) -> None:
    with database.session() as session:
        for message in session.scalars(select(OutboxMessage)):
            for name, value in values.items():
                setattr(message, name, value)


def test_the_system_page_names_what_is_missing_and_the_fix(admin_browser, database):
    _queue_mail(database, 3)
    html = admin_browser.get("/admin/system").get_data(as_text=True)
    mail = section(html, "mail")
    assert "E-Mail ist nicht eingerichtet: 3 Nachrichten warten im Postausgang." in mail
    assert "SMTP_HOST" in mail and ".env" in mail
    assert "PUBLIC_URL ist nicht gesetzt." in section(html, "public_url")
    assert "RESPONSIBLE_EMAIL ist leer" in section(html, "responsible")
    assert "APP_SECRET ist gesetzt." in section(html, "secret")
    assert "badge-ok" in section(html, "secret")  # never the secret itself
    assert "ohne HTTPS" in section(html, "https")
    # What needs doing comes first.
    assert html.index('id="mail-status"') < html.index('id="secret-status"')


def test_the_dashboard_says_it_in_one_line_and_no_configuration_names(admin_browser, database):
    _queue_mail(database, 1)
    html = admin_browser.get("/admin/").get_data(as_text=True)
    line = hint(html)
    assert line is not None
    text = re.sub(r"<[^>]+>", "", line).strip()
    assert text == "3 Einstellungen fehlen – System ansehen"
    assert 'href="/admin/system"' in line
    assert 'id="mail-warning"' not in html
    for name in ("SMTP_", ".env", "PUBLIC_URL", "RESPONSIBLE_EMAIL"):
        assert name not in html, name


def test_the_dashboard_hint_in_english(admin_browser):
    admin_browser.client.set_cookie("fvh_lang", "en")
    line = hint(admin_browser.get("/admin/").get_data(as_text=True))
    assert re.sub(r"<[^>]+>", "", line).strip() == "3 settings missing – view System"
    html = admin_browser.get("/admin/system").get_data(as_text=True)
    assert "E-mail is not set up: 0 messages are waiting in the outbox." in section(html, "mail")
    assert "PUBLIC_URL is not set." in section(html, "public_url")


def test_all_set_up_shows_no_hint_and_no_fixes(app, admin_browser, database, monkeypatch):
    configure(app, monkeypatch, **FULL)
    _queue_mail(database, 2)  # fresh: a working worker sends them within seconds
    assert hint(admin_browser.get("/admin/").get_data(as_text=True)) is None
    html = admin_browser.get("/admin/system").get_data(as_text=True)
    assert 'id="system-ok"' in html
    assert "Mails gehen über mail.example.org:587, Absender fvh@example.org." in html
    assert "Links in E-Mails führen zu https://wache.example/fvh." in html
    assert "Hinweise gehen an kasse@example.org, wart@example.org." in html
    assert html.count("So geht es:") == 1  # only the HTTPS hint, which the dashboard ignores


def test_one_missing_setting_in_the_singular(app, admin_browser, monkeypatch):
    configure(app, monkeypatch, **{**FULL, "RESPONSIBLE_EMAIL": ""})
    line = hint(admin_browser.get("/admin/").get_data(as_text=True))
    assert re.sub(r"<[^>]+>", "", line).strip() == "1 Einstellung fehlt – System ansehen"


def test_failed_mail_is_a_problem(app, admin_browser, database, monkeypatch):
    configure(app, monkeypatch, **FULL)
    _queue_mail(database, 2)
    _change_outbox(database, status="failed")
    html = admin_browser.get("/admin/system").get_data(as_text=True)
    mail = section(html, "mail")
    assert "2 Nachrichten konnten endgültig nicht zugestellt werden." in mail
    assert "nicht eingerichtet" not in mail and "fvh mail send" in mail
    line = hint(admin_browser.get("/admin/").get_data(as_text=True))
    assert re.sub(r"<[^>]+>", "", line).strip() == "1 Problem – System ansehen"


def test_an_old_backlog_is_a_problem_once_a_worker_would_have_sent_it(
    app, admin_browser, database, monkeypatch
):
    configure(app, monkeypatch, **FULL)
    _queue_mail(database, 1)
    _change_outbox(database, created_at=utcnow() - timedelta(minutes=14))
    assert hint(admin_browser.get("/admin/").get_data(as_text=True)) is None
    _change_outbox(database, created_at=utcnow() - timedelta(minutes=16))
    html = admin_browser.get("/admin/system").get_data(as_text=True)
    assert "Der Postausgang stockt: 1 Nachricht wartet seit" in section(html, "mail")


@pytest.mark.parametrize(
    ("public_url", "level"),
    [("wache.example/fvh", status.PROBLEM), ("http://wache.example", status.OK)],
)
def test_an_unusable_public_url_is_a_problem(app, admin_browser, monkeypatch, public_url, level):
    configure(app, monkeypatch, **{**FULL, "PUBLIC_URL": public_url})
    html = admin_browser.get("/admin/system").get_data(as_text=True)
    assert f"finding-{level}" in section(html, "public_url")


def test_the_system_page_is_for_admins_only(app, member_browser):
    assert access.rule_of(app.view_functions["admin.system_status"]) == access.ADMIN
    assert member_browser.get("/admin/system").status_code == 403
    html = member_browser.get("/").get_data(as_text=True)
    assert "/admin/system" not in html


def test_admins_find_the_system_page_in_the_menu(admin_browser):
    html = admin_browser.get("/admin/").get_data(as_text=True)
    assert '<a href="/admin/system">System</a>' in html
