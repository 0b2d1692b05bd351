"""The audit log of administrative actions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fvh.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who does something: an admin member, an API key or the system itself."""

    kind: str  # "member", "api_key", "system"
    label: str
    member_id: int | None = None
    api_key_id: int | None = None

    @classmethod
    def system(cls, label: str = "System") -> Actor:
        return cls("system", label)

    @classmethod
    def for_member(cls, member_id: int, label: str) -> Actor:
        return cls("member", label, member_id=member_id)

    @classmethod
    def for_api_key(cls, api_key_id: int, label: str) -> Actor:
        return cls("api_key", label, api_key_id=api_key_id)


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: str = "",
    *,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction (it commits with the change it describes)."""
    entry = AuditEntry(
        actor_kind=actor.kind,
        actor_label=actor.label[:255],
        actor_member_id=actor.member_id,
        action=action,
        target=target[:255],
        before=_dump(before),
        after=_dump(after),
    )
    session.add(entry)
    return entry


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
