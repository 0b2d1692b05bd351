"""Sending the outbox: claim a message, send it over SMTP, mark it; retry with backoff.

Runs after the event's transaction has committed, never on a terminal's request: a thread in
each server process and `fvh mail send` (for cron) both call `send_due`. A claim is a lease
taken by a conditional UPDATE, so two workers never send the same message; a worker that dies
mid-send leaves a lease that expires, and the message goes out later (at least once).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import or_, select, update

from fvh.config import Config
from fvh.core import notify
from fvh.db import Database
from fvh.db.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str = ""
    password: str = ""
    sender: str = ""
    tls: str = "starttls"  # "starttls", "ssl" or "none"
    timeout: float = 10.0
    responsible: tuple[str, ...] = ()
    # Turns the sealed links of account mails into working ones (see fvh.core.notify).
    app_secret: str = field(default="", repr=False)

    @property
    def configured(self) -> bool:
        return notify.can_send(self.host, self.sender)


def smtp_settings(config: Config) -> SmtpSettings:
    return SmtpSettings(
        host=config.smtp_host,
        port=config.smtp_port,
        user=config.smtp_user,
        password=config.smtp_password,
        sender=config.smtp_sender,
        tls=config.smtp_tls,
        timeout=config.smtp_timeout,
        responsible=notify.parse_addresses(config.responsible_email),
        app_secret=config.app_secret,
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    exponent = min(max(attempts - 1, 0), 16)  # 2**16 * 30 s is far past the cap already
    return min(BACKOFF_BASE * 2**exponent, BACKOFF_MAX)


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()  # certificates and host names are verified
    if settings.tls == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.tls == "starttls":
            smtp.starttls(context=context)
    if settings.user:
        smtp.login(settings.user, settings.password)
    return smtp


def _build(
    message: OutboxMessage, recipients: tuple[str, ...], sender: str, app_secret: str
) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = formatdate(localtime=True)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    email.set_content(notify.unseal(message.body_text, app_secret))
    email.add_alternative(notify.unseal(message.body_html, app_secret), subtype="html")
    return email


def _claim(database: Database, message_id: int) -> bool:
    now = utcnow()
    with database.session() as session:
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == "pending",
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
            )
            .values(locked_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return claimed.rowcount == 1


def _finish(database: Database, message_id: int, error: str | None) -> None:
    with database.session() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        message.locked_until = None
        if error is None:
            message.status = "sent"
            message.sent_at = utcnow()
            message.last_error = ""
            # The link's nonce goes: a kept copy (and every later backup) can't rebuild it.
            message.body_text = notify.wipe_seals(message.body_text)
            message.body_html = notify.wipe_seals(message.body_html)
        else:
            message.last_error = error[:500]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = "failed"
            else:
                message.next_attempt_at = utcnow() + backoff(message.attempts)


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def due_ids(database: Database, limit: int = 50) -> list[int]:
    now = utcnow()
    with database.session() as session:
        return list(
            session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        )


def backlog(database: Database) -> int:
    """How many messages wait, in a transaction of its own (for the CLI and tests)."""
    with database.session() as session:
        return notify.backlog(session)


def send_due(database: Database, settings: SmtpSettings, limit: int = 50) -> SendReport:
    """Send what is due, one SMTP connection per batch; failures are retried later."""
    report = SendReport()
    if not settings.configured:
        return report
    ids = due_ids(database, limit)
    if not ids:
        return report
    smtp: smtplib.SMTP | None = None
    try:
        for message_id in ids:
            if not _claim(database, message_id):
                report.skipped += 1  # another worker has it
                continue
            with database.session() as session:
                message = session.get(OutboxMessage, message_id)
                assert message is not None
                recipients = (
                    settings.responsible
                    if message.recipient == notify.RESPONSIBLE
                    else (message.recipient,)
                )
                email = (
                    _build(message, recipients, settings.sender, settings.app_secret)
                    if recipients
                    else None
                )
            if email is None:
                _finish(database, message_id, "no recipient (RESPONSIBLE_EMAIL is empty)")
                report.failed += 1
                continue
            try:
                if smtp is None:
                    smtp = _connect(settings)
                smtp.send_message(email)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("mail %s not sent: %s", message_id, exc.__class__.__name__)
                _finish(database, message_id, f"{exc.__class__.__name__}: {exc}")
                report.failed += 1
                smtp = None  # reconnect for the next one
                continue
            _finish(database, message_id, None)
            report.sent += 1
    finally:
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
    return report


class OutboxWorker(threading.Thread):
    """A daemon thread that sends due mail every few seconds until stopped."""

    def __init__(self, database: Database, settings: SmtpSettings, interval: float = 2.0) -> None:
        super().__init__(name="fvh-outbox", daemon=True)
        self.database = database
        self.settings = settings
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                send_due(self.database, self.settings)
            except Exception:  # the worker must survive a database hiccup
                log.exception("outbox worker round failed")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=self.interval + 5)
