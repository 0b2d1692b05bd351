"""E-mail notifications: decided in the domain, written to the outbox in the event's transaction.

Nothing here talks to SMTP: `fvh.ops.mail` sends the outbox after commit. Messages are rendered
when the event happens (so they show the balance of that moment), from one template folder
per message: `templates/email/<name>/{subject.txt,body.txt,body.html}`.

A mail with a working link stores only a sealed placeholder (`seal_link_token`): the token is
derived from APP_SECRET and a random nonce when the mail is sent, and the nonce is wiped once
it is. So the outbox, and every backup of it, holds no link that opens anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from fvh.core import dates
from fvh.core import system_settings as settings_mod
from fvh.core.members import AccountHolder
from fvh.core.money import format_cents
from fvh.db.models import Member, OutboxMessage, UnknownTokenScan, utcnow

RESPONSIBLE = "@responsible"  # expanded to RESPONSIBLE_EMAIL when the message is sent
TEMPLATE_DIR = Path(__file__).parent / "templates" / "email"
# "~" is unreserved in URLs and left alone by HTML escaping, so the seal survives both bodies.
SEAL = re.compile(r"~~fvh-seal-([A-Za-z0-9_-]{32})~~")
SEAL_REMOVED = "[entfernt]"
UNKNOWN_TOKEN_INTERVAL = timedelta(hours=1)
STALE_BACKLOG = timedelta(minutes=15)

_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain text and HTML of one message."""
    subject = _environment.get_template(f"{template}/subject.txt").render(context).strip()
    text = _environment.get_template(f"{template}/body.txt").render(context)
    html = _environment.get_template(f"{template}/body.html").render(context)
    return " ".join(subject.split()), text, html


def link_token(app_secret: str, nonce: str) -> str:
    """The working token behind a seal: an HMAC of the nonce under APP_SECRET."""
    if not app_secret:
        raise ValueError("APP_SECRET is needed for links in e-mails")
    digest = hmac.new(
        app_secret.encode("utf-8"), b"fvh-account-link\0" + nonce.encode("ascii"), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def seal_link_token(app_secret: str) -> tuple[str, str]:
    """A new link token and the placeholder the outbox keeps instead of it."""
    nonce = secrets.token_urlsafe(24)  # 32 characters
    return link_token(app_secret, nonce), f"~~fvh-seal-{nonce}~~"


def unseal(text: str, app_secret: str) -> str:
    """The body as it is mailed: every seal replaced by its working token."""
    return SEAL.sub(lambda match: link_token(app_secret, match.group(1)), text)


def wipe_seals(text: str) -> str:
    """The body as it is kept after sending: no nonce left to derive a token from."""
    return SEAL.sub(SEAL_REMOVED, text)


def enqueue(session: Session, template: str, recipient: str, **context: Any) -> OutboxMessage:
    """Render a message and add it to the outbox of the current transaction."""
    subject, text, html = render(template, context)
    message = OutboxMessage(
        template=template,
        recipient=recipient,
        subject=subject[:255],
        body_text=text,
        body_html=html,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        last_error="",
    )
    session.add(message)
    return message


def _money(system: settings_mod.SystemSettings) -> Any:
    return lambda cents: format_cents(cents, system.currency, system.decimals, "de")


def after_booking(
    session: Session,
    member: AccountHolder | Member,
    amount_cents: int,
    balance_cents: int,
    description: str,
    system: settings_mod.SystemSettings | None = None,
) -> None:
    """Queue the mails a booking triggers: opt-ins of the member, and the responsible admins.

    Thresholds fire once per crossing: only when this booking took the balance from at or
    above the threshold to below it, never again on later bookings below it.
    """
    system = system or settings_mod.load(session)
    before = balance_cents - amount_cents
    context = {
        "member": member,
        "amount_cents": amount_cents,
        "balance_cents": balance_cents,
        "description": description,
        "money": _money(system),
        "organisation": system.organisation_name,
    }
    if member.email:
        if member.notify_bookings:
            enqueue(session, "booking", member.email, **context)
        if member.notify_zero and before > 0 >= balance_cents:
            enqueue(session, "balance_zero", member.email, **context)
        threshold = member.low_balance_threshold_cents
        if (
            member.notify_low_balance
            and threshold is not None
            and before >= threshold > balance_cents
        ):
            enqueue(session, "low_balance", member.email, threshold_cents=threshold, **context)
    responsible = system.responsible_threshold_cents
    if before >= responsible > balance_cents:
        enqueue(
            session, "responsible_low_balance", RESPONSIBLE, threshold_cents=responsible, **context
        )


def password_changed(
    session: Session, member: Member, *, by_link: bool = False, by_admin: bool = False
) -> None:
    """Tell the member their password changed (by themself, by a link from a mail, or by an
    admin's one-time password), so that a change they didn't make shows."""
    if member.email:
        enqueue(
            session,
            "password_changed",
            member.email,
            member=member,
            by_link=by_link,
            by_admin=by_admin,
            organisation=settings_mod.load(session).organisation_name,
        )


def email_changed(session: Session, member: Member, old_email: str | None) -> None:
    """Tell the old address that the member's address changed (the new one may be an
    attacker's): no link, just the news and whom to ask."""
    if old_email and old_email != member.email:
        enqueue(
            session,
            "email_changed",
            old_email,
            member=member,
            new_email=member.email or "",
            organisation=settings_mod.load(session).organisation_name,
        )


def unknown_token(session: Session, scan: UnknownTokenScan, token_hex: str) -> bool:
    """Tell the responsible admins about an unknown token, at most once an hour per token."""
    now = utcnow()
    if scan.notified_at is not None and now - scan.notified_at < UNKNOWN_TOKEN_INTERVAL:
        return False
    scan.notified_at = now
    enqueue(
        session,
        "unknown_token",
        RESPONSIBLE,
        token_hex=token_hex,
        terminal=scan.last_terminal,
        # The people's format of every page; the zone is named, as the core knows no other.
        seen_at=dates.date_time(now, UTC),
        scan_count=scan.scan_count,
        organisation=settings_mod.load(session).organisation_name,
    )
    return True


def can_send(smtp_host: str, sender: str) -> bool:
    """Whether the outbox can go out at all: it needs an SMTP server and a sender address."""
    return bool(smtp_host and sender)


def parse_addresses(value: str) -> tuple[str, ...]:
    """The addresses of a comma-separated setting such as RESPONSIBLE_EMAIL."""
    return tuple(a.strip() for a in value.split(",") if a.strip())


def backlog(session: Session) -> int:
    """How many messages wait in the outbox to be sent."""
    return session.scalar(select(func.count()).where(OutboxMessage.status == "pending")) or 0


@dataclass(frozen=True)
class OutboxStatus:
    """What the outbox holds: for warnings when mail does not go out."""

    pending: int
    failed: int
    oldest_pending_at: datetime | None

    def stale(self, now: datetime) -> bool:
        """Whether a message has waited longer than a working worker would let it."""
        return self.oldest_pending_at is not None and now - self.oldest_pending_at > STALE_BACKLOG


def outbox_status(session: Session) -> OutboxStatus:
    """Pending and failed messages and the oldest pending one, in one query.

    Takes the caller's session: a web request must not open a second SQLite transaction
    while its own holds the write lock.
    """
    pending = OutboxMessage.status == "pending"
    # CASE rather than FILTER (WHERE ...): MariaDB has no aggregate FILTER clause.
    row = session.execute(
        select(
            func.count(case((pending, 1))),
            func.count(case((OutboxMessage.status == "failed", 1))),
            func.min(case((pending, OutboxMessage.created_at))),
        )
    ).one()
    return OutboxStatus(int(row[0] or 0), int(row[1] or 0), row[2])
