"""A member named in a filter field: by code, as a suggestion ("Name, Vorname (code)") or by
any words of a name, found by the members search (case and accents aside)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import flash
from flask_babel import gettext as _

from fvh.core import members
from fvh.core.errors import DomainError
from fvh.db.models import Member
from fvh.http.context import db_session

# A code alone, or one in brackets at the end (the form the suggestions put in the field).
_CODE_IN_FIELD = re.compile(r"(?:.*\()?\s*([0-9]{10})\s*\)?")
CANDIDATES = 10  # members listed when a name fits several


@dataclass(frozen=True)
class MemberChoice:
    """The member the field names, or the members it fits when it fits several (then the
    admin picks one: which one is meant is not for the server to guess)."""

    member: Member | None = None
    candidates: tuple[Member, ...] = ()


def resolve(text: str) -> MemberChoice:
    """The member `text` names; a code or name that fits nobody is said in a message."""
    session = db_session()
    by_code = _CODE_IN_FIELD.fullmatch(text)
    if by_code:
        try:
            return MemberChoice(members.get_by_code(session, by_code.group(1)))
        except DomainError:
            flash(_("Kein Mitglied mit dem Code %(code)s.", code=by_code.group(1)), "error")
            return MemberChoice()
    found = members.search(session, text, sort="name", limit=CANDIDATES)
    if found.total == 1:
        return MemberChoice(found.rows[0])
    if found.total:
        return MemberChoice(candidates=tuple(found.rows))
    if text.isascii() and text.isdigit():  # digits are a code, maybe mistyped
        flash(_("Kein Mitglied mit dem Code %(code)s.", code=text), "error")
    else:
        flash(_("Kein Mitglied gefunden: %(text)s", text=text), "error")
    return MemberChoice()
