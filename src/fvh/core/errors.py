"""Domain exceptions. Doors translate them into HTTP answers, form errors or exit codes.

A message is a German *template* with named placeholders plus their values:
`ValidationError(N_("Kein gültiger Betrag: %(value)s"), "amount", value=text)`.
`exc.message` is the German text (`template % params`), which the API, the CLI and the logs
show; the web door translates `exc.template` and fills in `exc.params` (`fvh.web.i18n`).
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 -- the conventional gettext marker name
    """Mark a domain message for extraction into the catalog; returns it unchanged."""
    return message


class DomainError(Exception):
    """Base of every expected failure of a domain operation."""

    def __init__(self, message: str = "", **params: Any) -> None:
        rendered = message % params if params else message
        super().__init__(rendered)
        self.template = message
        self.params = params
        self.message = rendered


class ValidationError(DomainError):
    """Input that breaks a rule; `field` names the offending input when there is one."""

    def __init__(self, message: str, field: str | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


class NotFound(DomainError):
    """The addressed object does not exist."""


class MemberNotFound(NotFound):
    pass


class TokenNotFound(NotFound):
    pass


class Conflict(DomainError):
    """The operation collides with existing data (a duplicate, an earlier reversal, ...)."""


class DuplicateCode(Conflict):
    pass


class DuplicateEmail(Conflict):
    pass


class DuplicateToken(Conflict):
    def __init__(self, message: str, owner_name: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.owner_name = owner_name


class AlreadyReversed(Conflict):
    pass


class MemberLocked(DomainError):
    """A locked member tried to book at a terminal."""

    def __init__(self, first_name: str) -> None:
        super().__init__("member is locked")
        self.first_name = first_name


class BelowMinimum(DomainError):
    """The debit would take the balance below the member's allowed minimum."""

    def __init__(self, first_name: str, balance_cents: int, floor_cents: int) -> None:
        super().__init__("balance would fall below the minimum")
        self.first_name = first_name
        self.balance_cents = balance_cents
        self.floor_cents = floor_cents


class PermissionDenied(DomainError):
    """The actor may not do this (e.g. an admin demoting themself)."""


class UndoRefused(DomainError):
    """A member may not undo this booking; `reason` says why (the door words it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"undo refused: {reason}")
        self.reason = reason
