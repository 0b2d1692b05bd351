"""Interactive logins: find the member, check the password, throttle guessing, log each try.

Failed attempts are counted in the database (table `login_attempts`), so every worker and
every server process sees the same counts; no separate rate-limit store is needed. An
account is throttled after `per_account` failures within `window` (failures before its last
successful login do not count), an address after `per_ip` failures within `window`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from fvh.core import members, passwords
from fvh.core.errors import N_, DomainError
from fvh.db.models import LoginAttempt, Member, utcnow

SUCCESS = "success"
FAILED = "failed"
LOCKED = "locked"
THROTTLED = "throttled"
_CODE_RE = re.compile(r"[0-9]{10}")  # ASCII digits only, like members.validate_code


@dataclass(frozen=True)
class Policy:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_ip: int = 20


DEFAULT_POLICY = Policy()


class LoginRefused(DomainError):
    """Base of the reasons a login fails; doors show one message per subclass."""


class InvalidCredentials(LoginRefused):
    """Unknown account, no password set, or a wrong password (indistinguishable on purpose)."""


class AccountLocked(LoginRefused):
    """The password was right, but the member is locked."""


class TooManyAttempts(LoginRefused):
    """Too many failures for this account or from this address; try again later."""


def normalize_identifier(identifier: str) -> str:
    return (identifier or "").strip().lower()[:255]


def find_member(session: Session, identifier: str) -> Member | None:
    """A member by ten-digit code or by e-mail address."""
    identifier = normalize_identifier(identifier)
    if not identifier:
        return None
    column = Member.code if _CODE_RE.fullmatch(identifier) else Member.email
    return session.scalar(select(Member).where(column == identifier))


def _failures_since(session: Session, since: datetime, *conditions: object) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.outcome == FAILED, LoginAttempt.created_at >= since, *conditions)
    )
    return session.scalar(query) or 0


def is_throttled(
    session: Session,
    identifier: str,
    member: Member | None,
    ip_address: str,
    *,
    policy: Policy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> bool:
    since = (now or utcnow()) - policy.window
    if _failures_since(session, since, LoginAttempt.ip_address == ip_address) >= policy.per_ip:
        return True
    if member is not None:
        # Failures before the last success do not count. By id, not by time: MySQL's
        # DATETIME keeps whole seconds, so a failure and a success can share a timestamp.
        last_success_id = session.scalar(
            select(func.max(LoginAttempt.id)).where(
                LoginAttempt.member_id == member.id, LoginAttempt.outcome == SUCCESS
            )
        )
        account = and_(
            LoginAttempt.member_id == member.id, LoginAttempt.id > (last_success_id or 0)
        )
    else:
        account = LoginAttempt.identifier == normalize_identifier(identifier)
    return _failures_since(session, since, account) >= policy.per_account


def record(
    session: Session,
    identifier: str,
    ip_address: str,
    outcome: str,
    member: Member | None = None,
) -> LoginAttempt:
    attempt = LoginAttempt(
        identifier=normalize_identifier(identifier),
        member_id=member.id if member is not None else None,
        ip_address=(ip_address or "")[:45],
        outcome=outcome,
    )
    session.add(attempt)
    session.flush()
    return attempt


def authenticate(
    session: Session,
    identifier: str,
    password: str,
    ip_address: str,
    *,
    policy: Policy = DEFAULT_POLICY,
) -> Member:
    """The member whose credentials these are; raises a LoginRefused subclass otherwise.

    Every attempt is recorded (the caller commits, also on failure, so the count holds).
    """
    member = find_member(session, identifier)
    if is_throttled(session, identifier, member, ip_address, policy=policy):
        record(session, identifier, ip_address, THROTTLED, member)
        raise TooManyAttempts(N_("Zu viele Fehlversuche. Bitte später erneut versuchen."))
    if member is None:
        passwords.burn_time(password)
        ok = False
    else:
        ok = members.check_password(member, password)
    if not ok:
        record(session, identifier, ip_address, FAILED, member)
        raise InvalidCredentials(N_("Anmeldedaten ungültig."))
    assert member is not None
    if member.locked:
        record(session, identifier, ip_address, LOCKED, member)
        raise AccountLocked(N_("Das Konto ist gesperrt."))
    record(session, identifier, ip_address, SUCCESS, member)
    return member


def purge(session: Session, older_than: timedelta = timedelta(days=90)) -> int:
    """Delete attempts older than `older_than`; returns how many."""
    result = session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.created_at < utcnow() - older_than)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
