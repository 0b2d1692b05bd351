"""A `limits` storage in FVH's own database, so every worker and process shares the counters.

Flask-Limiter's stock storages are memory (per process), Redis, Memcached or MongoDB; a fire
station runs none of those. Fixed windows only: a counter and the moment it expires, per key,
each change in a short transaction of its own.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from fvh.db import Database
from fvh.db.models import RateLimitCounter, utcnow

SCHEME = "fvh-db"


def bump(session: Session, key: str, expiry: int, amount: int = 1) -> int:
    """Add `amount` to the counter of `key` in one atomic upsert and return the new count; a
    missing or expired window starts anew with `amount`, lasting `expiry` seconds.

    One statement, not a look and an insert: requests that open the same window at once
    (13 first POSTs) would otherwise collide on the key. The upsert also locks the row until
    the session's transaction ends, which `fvh.core.logins` uses to count one address's
    tries one by one.
    """
    now = utcnow()
    table = RateLimitCounter.__table__
    values = {"key": key, "count": amount, "expires_at": now + timedelta(seconds=expiry)}
    live = table.c.expires_at > now
    # MySQL applies the assignments in order, each seeing the ones before: the count is set
    # first, while `expires_at` still holds the old window's end.
    assignments = [
        ("count", case((live, table.c.count + amount), else_=amount)),
        ("expires_at", case((live, table.c.expires_at), else_=values["expires_at"])),
    ]
    backend = session.get_bind().dialect.name
    if backend in {"mysql", "mariadb"}:
        statement = mysql.insert(table).values(values).on_duplicate_key_update(assignments)
    else:
        dialect = postgresql if backend == "postgresql" else sqlite
        statement = (
            dialect.insert(table)
            .values(values)
            .on_conflict_do_update(index_elements=[table.c.key], set_=dict(assignments))
        )
    session.execute(statement)
    # Our own uncommitted row: the upsert holds its lock, no other request changed it since.
    return session.scalar(select(table.c.count).where(table.c.key == key)) or 0


class DatabaseStorage(Storage):
    """Counters in the `rate_limits` table; pass the Database as the `database` option."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 - the registry of `limits` reads a plain list

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.database: Database = options["database"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self.database.session() as session:
            return bump(session, key, expiry, amount)

    def get(self, key: str) -> int:
        with self.database.session() as session:
            return (
                session.scalar(
                    select(RateLimitCounter.count).where(
                        RateLimitCounter.key == key, RateLimitCounter.expires_at > utcnow()
                    )
                )
                or 0
            )

    def get_expiry(self, key: str) -> float:
        with self.database.session() as session:
            expires = session.scalar(
                select(RateLimitCounter.expires_at).where(RateLimitCounter.key == key)
            )
        return (expires or utcnow()).replace(tzinfo=UTC).timestamp()

    def check(self) -> bool:
        try:
            self.database.ping()
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.database.session() as session:
            return session.execute(delete(RateLimitCounter)).rowcount

    def clear(self, key: str) -> None:
        with self.database.session() as session:
            session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))
