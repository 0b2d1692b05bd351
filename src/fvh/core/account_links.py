"""Single-use links by e-mail: password reset (1 hour) and a new e-mail address (24 hours).

A link's token is an HMAC under APP_SECRET of a random nonce; only its SHA-256 hash is stored,
and the outbox keeps a sealed placeholder that the sender turns into the token (`notify.unseal`),
so a copy of the database or a backup opens no account. A token is used up by a conditional
UPDATE (two clicks, one success). The mail is written to the outbox in the transaction that
creates the token, with links built from the configured PUBLIC_URL (never from the request).
A reset request has the same outcome for the caller whether or not the address belongs to anyone.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fvh.core import audit, members, notify, passwords
from fvh.core import system_settings as settings_mod
from fvh.core.errors import N_, DomainError, DuplicateEmail, ValidationError
from fvh.db.models import AccountToken, Member, utcnow

log = logging.getLogger(__name__)

RESET = "reset"
VERIFY = "verify"
LIFETIMES = {RESET: timedelta(hours=1), VERIFY: timedelta(hours=24)}
# At most this many links of one purpose per member and hour (more requests send nothing).
MAX_PER_HOUR = 3


class TokenInvalid(DomainError):
    """No such link: mistyped, tampered with, or meant for something else."""


class TokenExpired(DomainError):
    """The link was valid once but is used up or too old."""


@dataclass(frozen=True)
class Links:
    """Absolute URLs of the GUI pages that mails point to, built from PUBLIC_URL by the door."""

    login: str
    forgot_password: str
    reset_password: str
    confirm_email: str
    admin_members: str
    # APP_SECRET: link tokens are derived from it, so that the outbox holds no working one.
    app_secret: str = field(repr=False)

    def with_token(self, url: str, token: str) -> str:
        """The link to `url` with a token or a seal (both need no escaping in a URL)."""
        return f"{url}?{urlencode({'token': token}, safe='~')}"


def check_public_url(url: str) -> str:
    """PUBLIC_URL without a trailing slash; it must be an absolute http(s) address."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationError(
            f"PUBLIC_URL {url!r} is not an absolute http(s) address such as "
            "https://station.example/fvh.",
            "public_url",
        )
    return url


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issue(
    session: Session, member: Member, purpose: str, links: Links, new_email: str | None = None
) -> str:
    """Store a new token's hash; returns the seal for the mail (the sender makes it the token)."""
    token, seal = notify.seal_link_token(links.app_secret)
    now = utcnow()
    session.add(
        AccountToken(
            member_id=member.id,
            purpose=purpose,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
            new_email=new_email,
        )
    )
    return seal


def _recent_count(session: Session, member: Member, purpose: str) -> int:
    since = utcnow() - timedelta(hours=1)
    return (
        session.scalar(
            select(func.count())
            .select_from(AccountToken)
            .where(
                AccountToken.member_id == member.id,
                AccountToken.purpose == purpose,
                AccountToken.created_at > since,
            )
        )
        or 0
    )


def find(session: Session, token: str, purpose: str) -> AccountToken:
    """The stored token behind a link, if it can still be used (nothing is changed)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise TokenInvalid(N_("Dieser Link ist ungültig."))
    row = session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == hash_token(token), AccountToken.purpose == purpose
        )
    )
    if row is None:
        raise TokenInvalid(N_("Dieser Link ist ungültig."))
    if row.used_at is not None:
        raise TokenExpired(N_("Dieser Link wurde bereits benutzt."))
    if row.expires_at <= utcnow():
        raise TokenExpired(N_("Dieser Link ist abgelaufen."))
    return row


def _use(session: Session, row: AccountToken) -> None:
    """Mark the token used; a concurrent use that got there first wins."""
    used = session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise TokenExpired(N_("Dieser Link wurde bereits benutzt."))


def _use_up_others(session: Session, member_id: int, purpose: str) -> None:
    """After success, no older link of the same purpose opens anything any more."""
    session.execute(
        update(AccountToken)
        .where(
            AccountToken.member_id == member_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _actor(member: Member) -> audit.Actor:
    return audit.Actor.for_member(member.id, f"{member.full_name} ({member.code})")


def request_password_reset(session: Session, email: str, links: Links) -> bool:
    """Queue a reset mail if the address belongs to an active member; the caller shows the
    same answer either way. Returns whether a mail was queued (for logs and tests only).

    An unknown address still renders the mail, so both paths do similar work.
    """
    address = members.normalize_email(email)  # ValidationError: not an address at all
    if address is None:  # never look up "no address" (it would match members without one)
        raise ValidationError(N_("Bitte eine E-Mail-Adresse angeben."), "email")
    member = session.scalar(select(Member).where(Member.email == address))
    organisation = settings_mod.load(session).organisation_name
    if member is None or member.locked:
        placeholder = Member(first_name="", code="")
        _, token = notify.seal_link_token(links.app_secret)
        notify.render("password_reset", _reset_context(placeholder, links, token, organisation))
        log.info("password reset for an unknown or locked address")
        return False
    if _recent_count(session, member, RESET) >= MAX_PER_HOUR:
        log.warning("password reset for %s refused: too many requests this hour", member.code)
        return False
    token = _issue(session, member, RESET, links)
    notify.enqueue(
        session,
        "password_reset",
        member.email or "",
        **_reset_context(member, links, token, organisation),
    )
    session.flush()
    log.info("password reset link sent to %s", member.code)
    return True


def _reset_context(member: Member, links: Links, token: str, organisation: str) -> dict:
    return {
        "member": member,
        "link": links.with_token(links.reset_password, token),
        "forgot_link": links.forgot_password,
        "minutes": int(LIFETIMES[RESET].total_seconds() // 60),
        "organisation": organisation,
    }


def reset_password(
    session: Session,
    token: str,
    password: str,
) -> Member:
    """Set the new password from a reset link; the link and its siblings are used up and
    every session of the member ends. An invalid password leaves the link usable."""
    row = find(session, token, RESET)
    member = members.get(session, row.member_id)
    passwords.validate(password)
    _use(session, row)
    members.set_password(session, member, password, _actor(member))
    _use_up_others(session, member.id, RESET)
    notify.password_changed(session, member, by_link=True)
    session.flush()
    return member


def request_email_change(
    session: Session,
    member: Member,
    new_email: str,
    password: str,
    links: Links,
) -> bool:
    """Send a confirmation link to the new address; the address changes only when it is opened.

    Needs the current password. Returns False when the hourly limit is reached (nothing sent).
    An address that belongs to another member gets the same answer, and its owner a mail
    instead of the link: the form must not tell who is registered.
    """
    address = members.normalize_email(new_email)
    if address is None:
        raise ValidationError(N_("Bitte eine E-Mail-Adresse angeben."), "email")
    if not members.check_password(member, password):
        raise ValidationError(N_("Das Passwort ist falsch."), "password")
    if address == member.email:
        raise ValidationError(N_("Das ist bereits Ihre E-Mail-Adresse."), "email")
    if _recent_count(session, member, VERIFY) >= MAX_PER_HOUR:
        log.warning("e-mail change of %s refused: too many requests this hour", member.code)
        return False
    # Issued for a taken address too (and never mailed): the hourly limit counts every request.
    token = _issue(session, member, VERIFY, links, new_email=address)
    organisation = settings_mod.load(session).organisation_name
    owner = session.scalar(select(Member).where(Member.email == address, Member.id != member.id))
    if owner is not None:
        notify.enqueue(
            session,
            "email_taken",
            address,
            member=owner,
            address=address,
            organisation=organisation,
        )
        log.info("e-mail change of %s to a taken address: its owner is told", member.code)
    else:
        notify.enqueue(
            session,
            "email_verification",
            address,
            member=member,
            new_email=address,
            link=links.with_token(links.confirm_email, token),
            hours=int(LIFETIMES[VERIFY].total_seconds() // 3600),
            organisation=organisation,
        )
    session.flush()
    return True


def _ensure_free(session: Session, member: Member, address: str) -> None:
    taken = session.scalar(select(Member.id).where(Member.email == address, Member.id != member.id))
    if taken is not None:
        raise DuplicateEmail(
            N_("Die E-Mail-Adresse %(email)s ist bereits vergeben."), email=address
        )


def confirm_email_change(session: Session, token: str) -> Member:
    """Make the address of a verification link the member's; checked for uniqueness again.

    Pending reset links go to the old address and are used up; the old address is told.
    """
    row = find(session, token, VERIFY)
    member = members.get(session, row.member_id)
    old_address = member.email
    address = row.new_email or ""
    _ensure_free(session, member, address)
    _use(session, row)
    members.update_details(
        session,
        member,
        members.MemberChanges(
            first_name=member.first_name,
            last_name=member.last_name,
            email=address,
            comment=member.comment,
            min_balance_cents=member.min_balance_cents,
        ),
        _actor(member),
    )
    _use_up_others(session, member.id, VERIFY)
    _use_up_others(session, member.id, RESET)
    notify.email_changed(session, member, old_address)
    session.flush()
    return member


def purge_expired(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget tokens that expired more than `older_than` ago (the hourly limit needs none)."""
    result = session.execute(
        delete(AccountToken)
        .where(AccountToken.expires_at < utcnow() - older_than)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
