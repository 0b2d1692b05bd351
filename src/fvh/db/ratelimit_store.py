"""A `limits` storage in FVH's own database, so every worker and process shares the counters.

Flask-Limiter's stock storages are memory (per process), Redis, Memcached or MongoDB; a fire
station runs none of those. Fixed windows only: a counter and the moment it expires, per key,
each change in a short transaction of its own.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from limits.storage import Storage
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from fvh.db import Database
from fvh.db.models import RateLimitCounter, utcnow

SCHEME = "fvh-db"


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
        now = utcnow()
        for _attempt in range(3):
            with self.database.session() as session:
                bumped = session.execute(
                    update(RateLimitCounter)
                    .where(RateLimitCounter.key == key, RateLimitCounter.expires_at > now)
                    .values(count=RateLimitCounter.count + amount)
                    .execution_options(synchronize_session=False)
                )
                if bumped.rowcount == 0:
                    # No live window: drop an expired one and open a new window.
                    session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))
                    session.add(
                        RateLimitCounter(
                            key=key, count=amount, expires_at=now + timedelta(seconds=expiry)
                        )
                    )
                    try:
                        session.flush()
                    except IntegrityError:  # a concurrent request opened it first: bump again
                        session.rollback()
                        continue
                return self._count(session, key)
        raise RuntimeError("rate limit counter kept colliding")

    def _count(self, session: Any, key: str) -> int:
        return (
            session.scalar(select(RateLimitCounter.count).where(RateLimitCounter.key == key)) or 0
        )

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
