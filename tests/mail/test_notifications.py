"""Taps lead to the right mails, through the outbox, over a real SMTP server on loopback."""

from __future__ import annotations

import base64
from datetime import UTC

import pytest
from sqlalchemy import select, update

from fvh.app import create_app
from fvh.core import audit, ledger, members, notify, system_settings
from fvh.db.models import Member, OutboxMessage, UnknownTokenScan, utcnow
from fvh.ops.mail import OutboxWorker, backlog, backoff, send_due, smtp_settings

ADMIN = audit.Actor.system("tests")


@pytest.fixture
def mail_app(mail_config):
    app = create_app(mail_config)
    yield app
    app.extensions["fvh_db"].dispose()


def _settings(app):
    return smtp_settings(app.config["FVH"])


def _opt_in(database, code, **prefs):
    with database.session() as s:
        member = members.get_by_code(s, code)
        for name, value in prefs.items():
            setattr(member, name, value)


def _tap(client, key, code):
    return client.put(
        f"/api/person/{code}/transaktion",
        json={"beschreibung": "Kasse Theke"},
        headers={"X-API-Key": key},
    )


def test_tap_sends_the_booking_mail_with_the_new_balance(mail_app, build, database, smtp_server):
    build.member(
        code="6000000001", first_name="Erika", email="erika@example.org", balance_cents=500
    )
    _opt_in(database, "6000000001", notify_bookings=True)
    key = build.api_key()
    client = mail_app.test_client()
    response = _tap(client, key, "6000000001")
    assert response.json["saldo"] == 4
    # Written in the tap's transaction, not sent by it.
    assert backlog(database) == 1
    assert smtp_server.inbox.messages == []

    report = send_due(database, _settings(mail_app))
    assert (report.sent, report.failed) == (1, 0)
    [mail] = smtp_server.inbox.wait_for(1)
    assert mail["To"] == "erika@example.org"
    assert "4,00" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "Hallo Erika" in text
    assert "Neues Guthaben: 4,00" in text
    assert "Kasse Theke" in text
    html = mail.get_body(("html",)).get_content()
    assert "<strong>4,00" in html
    assert backlog(database) == 0


def test_low_balance_and_zero_mail_once_per_crossing(mail_app, build, database, smtp_server):
    build.member(code="6000000002", email="max@example.org", balance_cents=300)
    _opt_in(
        database,
        "6000000002",
        notify_zero=True,
        notify_low_balance=True,
        low_balance_threshold_cents=150,
    )
    key = build.api_key()
    client = mail_app.test_client()
    for _ in range(4):  # 3 -> 2 -> 1 -> 0 -> block
        _tap(client, key, "6000000002")
    build_admin_credit = 500
    with database.session() as s:
        ledger.book(
            s, members.get_by_code(s, "6000000002").id, build_admin_credit, "Einzahlung", ADMIN
        )
    for _ in range(5):  # 5 -> 4 -> 3 -> 2 -> 1 -> 0: crosses 1,50 and 0 again
        _tap(client, key, "6000000002")
    send_due(database, _settings(mail_app))
    templates = [m["Subject"] for m in smtp_server.inbox.wait_for(4)]
    low = [s for s in templates if "unter" in s]
    zero = [s for s in templates if "aufgebraucht" in s]
    assert len(low) == 2  # 2,00 -> 1,00 in each round, not on 1 -> 0
    assert len(zero) == 2
    assert len(templates) == 4


def test_responsible_are_told_when_a_member_without_email_falls_below(
    mail_app, build, database, smtp_server
):
    build.member(
        code="6000000003",
        first_name="Karl",
        last_name="Ohne",
        balance_cents=100,
        min_balance_cents=-500,
    )
    with database.session() as s:
        system_settings.update(s, ADMIN, responsible_threshold_cents=-100)
    key = build.api_key()
    client = mail_app.test_client()
    for _ in range(4):  # 1 -> 0 -> -1 -> -2 -> -3: crosses -1,00 once (-1 -> -2)
        _tap(client, key, "6000000003")
    send_due(database, _settings(mail_app))
    [mail] = smtp_server.inbox.wait_for(1)
    assert mail["X-Envelope-To"] == "kasse@feuerwehr.example, wart@feuerwehr.example"
    text = mail.get_body(("plain",)).get_content()
    assert "Karl Ohne" in text and "6000000003" in text
    assert "keine E-Mail-Adresse" in text


def test_unknown_token_mails_responsible_at_most_hourly(mail_app, build, database, smtp_server):
    """The mail names the token and the terminal that read it (its API client)."""
    key = build.api_key(client="Zapfanlage Halle")
    client = mail_app.test_client()
    body = {"token": base64.b64encode(b"\xde\xad\xbe\xef").decode(), "beschreibung": "Kasse Halle"}
    for _ in range(3):
        assert (
            client.put("/api/nfc-transaktion", json=body, headers={"X-API-Key": key}).status_code
            == 404
        )
    assert backlog(database) == 1
    with database.session() as s:  # an hour later the next scan is reported again
        s.execute(update(UnknownTokenScan).values(notified_at=utcnow().replace(year=2020)))
    client.put("/api/nfc-transaktion", json=body, headers={"X-API-Key": key})
    send_due(database, _settings(mail_app))
    mails = smtp_server.inbox.wait_for(2)
    assert len(mails) == 2
    assert "DE:AD:BE:EF" in mails[0]["Subject"]
    assert "Zapfanlage Halle" in mails[0].get_body(("plain",)).get_content()


def test_smtp_down_keeps_the_mail_and_delivers_it_later(mail_app, build, database, smtp_server):
    build.member(code="6000000004", email="erika@example.org", balance_cents=500)
    _opt_in(database, "6000000004", notify_bookings=True)
    key = build.api_key()
    smtp_server.stop()
    assert _tap(mail_app.test_client(), key, "6000000004").status_code == 200

    report = send_due(database, _settings(mail_app))
    assert (report.sent, report.failed) == (0, 1)
    with database.session() as s:
        message = s.scalar(select(OutboxMessage))
        assert message.status == "pending"
        assert message.attempts == 1
        assert message.next_attempt_at > utcnow()
        assert "Connection" in message.last_error or "refused" in message.last_error.lower()
    assert send_due(database, _settings(mail_app)).sent == 0  # not due yet: backoff

    smtp_server.start()
    with database.session() as s:  # let the backoff pass
        s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert send_due(database, _settings(mail_app)).sent == 1
    assert len(smtp_server.inbox.wait_for(1)) == 1
    with database.session() as s:
        assert s.scalar(select(OutboxMessage.status)) == "sent"


def test_worker_thread_sends_within_seconds(mail_app, build, database, smtp_server):
    build.member(code="6000000005", email="erika@example.org", balance_cents=500)
    _opt_in(database, "6000000005", notify_bookings=True)
    key = build.api_key()
    worker = OutboxWorker(database, _settings(mail_app), interval=0.2)
    worker.start()
    try:
        _tap(mail_app.test_client(), key, "6000000005")
        assert len(smtp_server.inbox.wait_for(1, timeout=5)) == 1
    finally:
        worker.stop()


def test_without_smtp_mails_stay_queued(app, build, database):
    build.member(code="6000000006", email="erika@example.org", balance_cents=500)
    _opt_in(database, "6000000006", notify_bookings=True)
    _tap(app.test_client(), build.api_key(), "6000000006")
    assert send_due(database, smtp_settings(app.config["FVH"])).sent == 0
    assert backlog(database) == 1


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(50).total_seconds() == 3600


def test_a_failed_booking_writes_no_mail(app, build, database):
    build.member(code="6000000007", email="erika@example.org")
    _opt_in(database, "6000000007", notify_bookings=True)
    _tap(app.test_client(), build.api_key(), "6000000007")  # block: nothing booked
    assert backlog(database) == 0


def test_templates_render_every_message():
    member = Member(code="1", first_name="A", last_name="B", email=None)
    context = {
        "member": member,
        "amount_cents": -100,
        "balance_cents": -200,
        "description": "x",
        "money": str,
        "organisation": "FF",
        "threshold_cents": -100,
        "token_hex": "01",
        "terminal": "T",
        "seen_at": "06.12.2026, 08:30",
        "scan_count": 1,
    }
    for name in (
        "booking",
        "balance_zero",
        "low_balance",
        "responsible_low_balance",
        "unknown_token",
    ):
        subject, text, html = notify.render(name, context)
        assert subject and "\n" not in subject
        assert text.strip() and html.lstrip().startswith("<!doctype html>")
    # HTML escapes what members typed.
    member.first_name = "<script>"
    _, text, html = notify.render("booking", context)
    assert "<script>" in text and "<script>" not in html


def test_fvh_mail_send_for_cron(mail_config, mail_app, build, database, smtp_server):
    from click.testing import CliRunner

    from fvh.ops.cli import main

    build.member(code="6000000008", email="erika@example.org", balance_cents=500)
    _opt_in(database, "6000000008", notify_bookings=True)
    _tap(mail_app.test_client(), build.api_key(), "6000000008")
    env = {k: str(v) for k, v in mail_config.items() if k.isupper()}
    result = CliRunner().invoke(main, ["mail", "send"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 0" in result.output
    assert "0 still queued" in result.output
    assert len(smtp_server.inbox.wait_for(1)) == 1
    no_smtp = CliRunner().invoke(main, ["mail", "send"], env={**env, "SMTP_HOST": ""})
    assert no_smtp.exit_code == 1
    assert "No SMTP server configured" in no_smtp.output


def test_unknown_token_mail_shows_the_time_as_pages_do(build, database):
    """The people's date format of every page, with its zone named (the core has no other)."""
    from fvh.core import dates, tokens

    with database.session() as session:
        tokens.record_unknown_scan(session, b"\x01\x02", "Zapfanlage")
    with database.session() as session:
        message = session.scalar(select(OutboxMessage))
        scan_time = session.scalar(select(UnknownTokenScan.first_seen_at))
    assert f"{dates.date_time(scan_time, UTC)} (UTC)" in message.body_text
