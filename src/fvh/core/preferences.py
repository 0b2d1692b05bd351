"""A member's own notification choices: which e-mails `fvh.core.notify` sends them, and when."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from fvh.core import audit
from fvh.core.errors import N_, ValidationError
from fvh.core.money import MAX_ABS_CENTS
from fvh.db.models import Member


@dataclass(frozen=True)
class NotificationPrefs:
    notify_bookings: bool
    notify_zero: bool
    notify_low_balance: bool
    # The balance below which the low-balance mail goes out; needed when that one is chosen.
    low_balance_threshold_cents: int | None


def of(member: Member) -> NotificationPrefs:
    return NotificationPrefs(
        bool(member.notify_bookings),
        bool(member.notify_zero),
        bool(member.notify_low_balance),
        member.low_balance_threshold_cents,
    )


def validate(member: Member, prefs: NotificationPrefs) -> NotificationPrefs:
    """E-mails need an address; the low-balance mail needs a threshold within the range."""
    threshold = prefs.low_balance_threshold_cents
    if threshold is not None and (
        not isinstance(threshold, int)
        or isinstance(threshold, bool)
        or abs(threshold) > MAX_ABS_CENTS
    ):
        raise ValidationError(N_("Schwelle außerhalb des erlaubten Bereichs."), "threshold")
    if prefs.notify_low_balance and threshold is None:
        raise ValidationError(
            N_("Für die Warnung bei niedrigem Guthaben bitte eine Schwelle angeben."), "threshold"
        )
    wants_mail = prefs.notify_bookings or prefs.notify_zero or prefs.notify_low_balance
    if wants_mail and not member.email:
        raise ValidationError(
            N_("Für Benachrichtigungen ist eine E-Mail-Adresse nötig."), "notify_bookings"
        )
    return prefs


def update(session: Session, member: Member, prefs: NotificationPrefs, actor: audit.Actor) -> bool:
    """Validate and store the choices (all or nothing); audited. True when something changed."""
    validate(member, prefs)
    before = of(member)
    if prefs == before:
        return False
    member.notify_bookings = prefs.notify_bookings
    member.notify_zero = prefs.notify_zero
    member.notify_low_balance = prefs.notify_low_balance
    member.low_balance_threshold_cents = prefs.low_balance_threshold_cents
    audit.record(
        session,
        actor,
        "member.notifications",
        member.code,
        before=asdict(before),
        after=asdict(prefs),
    )
    session.flush()
    return True
