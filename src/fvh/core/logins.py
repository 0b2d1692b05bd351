"""Interactive logins: find the member, check the password, throttle guessing, log each try.

Failed attempts are counted in the database (table `login_attempts`), so every worker and
every server process sees the same counts; no separate rate-limit store is needed.

Two throttles. An account is throttled *for one address* after `per_account` failures from
that address since the account's last success from it, with a progressive delay: the
`per_account`-th failure locks the pair for `window`, each further failure (possible once
the wait is over) doubles the wait, up to `max_lockout`. An address is throttled after
`per_ip` failures within `window`, whatever accounts it tried.

The trade-off: a stranger can no longer lock the treasurer (or the bootstrap admin
9999999999) out, because the lock binds only the stranger's address; in exchange, an
attacker with many addresses gets `per_account` guesses per address and per growing wait.
The password policy (10 characters, none of the common ones) is what makes that too few.

Parallel tries cannot exceed either limit: a try first reserves its address (an upsert of
the address's row in `rate_limits`, which locks it until commit), then locks the member's
row (SELECT ... FOR UPDATE); on SQLite every writer already queues for the one write lock.
So the counts, the password check and the recorded attempt of one try finish before the
next try from that address, or of that account, counts. Always in this order: address, then
member, so two tries never wait for each other's lock. The price: logins from one address
(a station's shared router) are checked one after the other, a password hash each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from fvh.core import members, passwords
from fvh.core.errors import N_, DomainError
from fvh.db import ratelimit_store
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
    max_lockout: timedelta = timedelta(hours=24)


DEFAULT_POLICY = Policy()


class LoginRefused(DomainError):
    """Base of the reasons a login fails; doors show one message per subclass."""


class InvalidCredentials(LoginRefused):
    """Unknown account, no password set, or a wrong password (indistinguishable on purpose)."""


class AccountLocked(LoginRefused):
    """The password was right, but the member is locked."""


class TooManyAttempts(LoginRefused):
    """Too many failures for this account from this address, or from this address at all."""


def normalize_identifier(identifier: str) -> str:
    return (identifier or "").strip().lower()[:255]


def find_member(session: Session, identifier: str, *, lock: bool = False) -> Member | None:
    """A member by ten-digit code or by e-mail address (with `lock`, its row locked)."""
    identifier = normalize_identifier(identifier)
    if not identifier:
        return None
    column = Member.code if _CODE_RE.fullmatch(identifier) else Member.email
    query = select(Member).where(column == identifier)
    return session.scalar(query.with_for_update() if lock else query)


def _lock(session: Session, member: Member) -> None:
    """Lock the member's row until commit, so tries of one account are counted one by one."""
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())


def _reserve_address(session: Session, ip_address: str, policy: Policy) -> None:
    """Lock the address's row until commit, so tries from one address are counted one by
    one (before any member row: see the module's docstring)."""
    key = f"fvh-login-address/{(ip_address or '')[:45]}"
    ratelimit_store.bump(session, key, int(policy.window.total_seconds()))


def _address_failures(session: Session, ip_address: str, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.outcome == FAILED,
            LoginAttempt.created_at >= since,
            LoginAttempt.ip_address == ip_address,
        )
    )
    return session.scalar(query) or 0


def lockout(failures: int, policy: Policy = DEFAULT_POLICY) -> timedelta:
    """How long an account waits at one address after `failures` failures from it."""
    if failures < policy.per_account:
        return timedelta(0)
    doublings = min(failures - policy.per_account, 20)  # 2**20 windows is past any cap
    return min(policy.window * 2**doublings, policy.max_lockout)


def is_throttled(
    session: Session,
    identifier: str,
    member: Member | None,
    ip_address: str,
    *,
    policy: Policy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> bool:
    now = now or utcnow()
    if _address_failures(session, ip_address, now - policy.window) >= policy.per_ip:
        return True
    from_here = LoginAttempt.ip_address == ip_address
    if member is not None:
        # Failures before the last success from here do not count. By id, not by time:
        # MySQL's DATETIME keeps whole seconds, so a failure and a success can share one.
        last_success_id = session.scalar(
            select(func.max(LoginAttempt.id)).where(
                LoginAttempt.member_id == member.id, LoginAttempt.outcome == SUCCESS, from_here
            )
        )
        account = and_(
            LoginAttempt.member_id == member.id, LoginAttempt.id > (last_success_id or 0)
        )
    else:
        account = LoginAttempt.identifier == normalize_identifier(identifier)
    failures, last_failure = session.execute(
        select(func.count(), func.max(LoginAttempt.created_at)).where(
            LoginAttempt.outcome == FAILED,
            LoginAttempt.created_at >= now - policy.max_lockout,
            from_here,
            account,
        )
    ).one()
    return failures >= policy.per_account and now < last_failure + lockout(failures, policy)


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


def _check(
    session: Session,
    identifier: str,
    member: Member | None,
    password: str,
    ip_address: str,
    policy: Policy,
) -> Member:
    """The throttle, then the password; a refusal is recorded and raised. The caller holds
    the member's row lock."""
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
    return member


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
    _reserve_address(session, ip_address, policy)
    found = find_member(session, identifier, lock=True)
    member = _check(session, identifier, found, password, ip_address, policy)
    if member.locked:
        record(session, identifier, ip_address, LOCKED, member)
        raise AccountLocked(N_("Das Konto ist gesperrt."))
    record(session, identifier, ip_address, SUCCESS, member)
    return member


def check_current_password(
    session: Session,
    member: Member,
    password: str,
    ip_address: str,
    *,
    policy: Policy = DEFAULT_POLICY,
) -> None:
    """Confirm a signed-in member's password (before changing it) as a login attempt:
    throttled and recorded like one, so a stolen session can't guess it. Raises
    TooManyAttempts or InvalidCredentials; the caller commits, also on failure."""
    _reserve_address(session, ip_address, policy)
    _lock(session, member)
    _check(session, member.code, member, password, ip_address, policy)
    record(session, member.code, ip_address, SUCCESS, member)


def purge(session: Session, older_than: timedelta = timedelta(days=90)) -> int:
    """Delete attempts older than `older_than`; returns how many."""
    result = session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.created_at < utcnow() - older_than)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
