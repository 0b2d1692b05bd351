"""New members: the welcome mail, and self-registration that an admin approves.

Self-registration is off unless the system setting `self_registration` is on. A registration
creates a locked member with a generated code, marked `approval_pending`; the responsible
admins get a mail. Approving unlocks the member and sends the welcome mail with their code.
An address that is already taken gets the same answer as a new one, after the same password
hashing (nothing is created), so neither the form nor its timing tells who is a member.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fvh.core import audit, members, notify, passwords
from fvh.core import system_settings as settings_mod
from fvh.core.account_links import Links
from fvh.core.errors import N_, Conflict, DomainError, ValidationError
from fvh.db.models import Member

log = logging.getLogger(__name__)

# Beyond this many unapproved registrations the form refuses more (against floods of mail).
MAX_PENDING = 20
SELF_REGISTRATION = audit.Actor.system("Selbstregistrierung")


class RegistrationClosed(DomainError):
    """Self-registration is switched off (the door answers as if the page did not exist)."""


class TooManyPending(DomainError):
    """Too many registrations wait for approval; the form takes no more for now."""


def welcome(session: Session, member: Member, links: Links | None) -> bool:
    """Queue the welcome mail with the member's code, if they have an address."""
    if not member.email:
        return False
    notify.enqueue(
        session,
        "welcome",
        member.email,
        member=member,
        login_link=links.login if links else "",
        forgot_link=links.forgot_password if links else "",
        organisation=settings_mod.load(session).organisation_name,
    )
    return True


@dataclass(frozen=True)
class Registration:
    first_name: str
    last_name: str
    email: str
    password: str


def is_open(session: Session) -> bool:
    return settings_mod.load(session).self_registration


def register(
    session: Session,
    data: Registration,
    links: Links | None,
) -> Member | None:
    """Create a locked member awaiting approval and tell the responsible admins.

    Returns None (and creates nothing) when the address is taken; raises ValidationError for
    bad input, RegistrationClosed when switched off, TooManyPending when flooded.
    """
    if not is_open(session):
        raise RegistrationClosed(N_("Selbstregistrierung ist ausgeschaltet."))
    address = members.normalize_email(data.email)
    if address is None:
        raise ValidationError(N_("Bitte eine E-Mail-Adresse angeben."), "email")
    passwords.validate(data.password)
    if pending_count(session) >= MAX_PENDING:
        raise TooManyPending(N_("Zurzeit sind zu viele Registrierungen offen."))
    if session.scalar(select(Member.id).where(Member.email == address)) is not None:
        # Hash as a new member would, so the answer's timing does not tell the address is taken.
        passwords.hash_password(data.password)
        log.info("self-registration with a taken address ignored")
        return None
    try:
        member = members.create(
            session,
            members.NewMember(
                first_name=data.first_name,
                last_name=data.last_name,
                email=address,
                password=data.password,
                locked=True,
            ),
            SELF_REGISTRATION,
        )
    except Conflict:  # the address was taken a moment ago by a concurrent writer
        return None
    member.approval_pending = True
    notify.enqueue(
        session,
        "new_registration",
        notify.RESPONSIBLE,
        member=member,
        admin_link=links.admin_members if links else "",
        organisation=settings_mod.load(session).organisation_name,
    )
    session.flush()
    log.info("self-registration of %s awaits approval", member.code)
    return member


def approve(session: Session, member: Member, actor: audit.Actor, links: Links | None) -> None:
    """Unlock a self-registered member and send them the welcome mail with their code."""
    if not member.approval_pending:
        raise Conflict(N_("Dieses Mitglied wartet nicht auf eine Freigabe."))
    members.set_locked(session, member, False, actor)
    member.approval_pending = False
    audit.record(session, actor, "member.approve", member.code)
    welcome(session, member, links)
    session.flush()


def pending(session: Session, limit: int = 50) -> list[Member]:
    """Registrations waiting for approval, oldest first."""
    return list(
        session.scalars(
            select(Member)
            .where(Member.approval_pending.is_(True))
            .order_by(Member.created_at, Member.id)
            .limit(limit)
        )
    )


def pending_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Member).where(Member.approval_pending.is_(True))
        )
        or 0
    )
