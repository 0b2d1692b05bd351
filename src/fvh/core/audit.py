"""The audit log of administrative actions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fvh.db.models import AuditEntry


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


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditEntry]
    total: int


def list_entries(
    session: Session,
    *,
    action: str | Sequence[str] = "",
    text: str = "",
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Audit entries, newest first; `action` is a prefix (e.g. "member.") or several, of which
    any matches; `text` a part of the target or the actor."""
    conditions = []
    prefixes = [p for p in ([action] if isinstance(action, str) else action) if p]
    if prefixes:
        # autoescape: "_" in "api_key." is a letter here, not LIKE's any-character
        conditions.append(
            or_(*(AuditEntry.action.startswith(p, autoescape=True) for p in prefixes))
        )
    if text.strip():
        pattern = f"%{text.strip().lower()}%"
        conditions.append(
            func.lower(AuditEntry.target).like(pattern)
            | func.lower(AuditEntry.actor_label).like(pattern)
        )
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return AuditPage(list(rows), total)
