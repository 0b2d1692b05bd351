"""Every view declares who may call it. The access-matrix test fails on a view without a rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fvh.core.keys import SCOPE_ADMIN, SCOPE_TERMINAL

F = TypeVar("F", bound=Callable[..., Any])


def api_rule(scope: str) -> str:
    """The rule of a view that needs an API key of this scope (`fvh.core.keys.SCOPES`)."""
    return f"api:{scope}"


PUBLIC = "public"
API_TERMINAL = api_rule(SCOPE_TERMINAL)
API_ADMIN = api_rule(SCOPE_ADMIN)
LOGIN = "login"
ADMIN = "admin"
RULES = (PUBLIC, API_TERMINAL, API_ADMIN, LOGIN, ADMIN)


def mark(rule: str) -> Callable[[F], F]:
    """Record the access rule on the view function (the decorators that enforce it call this)."""
    if rule not in RULES:
        raise ValueError(f"unknown access rule {rule!r}")

    def decorate(view: F) -> F:
        view.fvh_access = rule  # type: ignore[attr-defined]
        return view

    return decorate


def rule_of(view: Callable[..., Any]) -> str | None:
    return getattr(view, "fvh_access", None)


public = mark(PUBLIC)
