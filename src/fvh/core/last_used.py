"""When an API key or an NFC token was last used: noted at most once a minute.

Terminals use the same key and token many times a minute; writing `last_used_at` on every
tap would make most taps a second write. The time is accurate to `RESOLUTION`.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import Table, Update, bindparam, or_, update
from sqlalchemy.orm import Session

from fvh.db.models import utcnow

RESOLUTION = timedelta(minutes=1)


def due(last_used_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a use should be written now (never written, or longer ago than RESOLUTION)."""
    return last_used_at is None or (now or utcnow()) - last_used_at >= RESOLUTION


def note(session: Session, table: Table, row_id: int) -> None:
    """Set the row's `last_used_at` to now, unless another request just did."""
    now = utcnow()
    session.connection().execute(
        _note(table), {"row_id": row_id, "now": now, "cutoff": now - RESOLUTION}
    )


@functools.cache
def _note(table: Table) -> Update:
    c = table.c
    return (
        update(table)
        .where(
            c.id == bindparam("row_id"),
            or_(c.last_used_at.is_(None), c.last_used_at <= bindparam("cutoff")),
        )
        .values(last_used_at=bindparam("now"))
    )
