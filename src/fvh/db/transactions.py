"""What a driver error means for a transaction, and a transaction run to its end.

Every driver error, at a statement or at COMMIT, on every backend, is sorted into one of five
kinds (`classify`). Only a *conflict* (a deadlock, a serialization failure, a Galera
certification failure) is run again: the server rolled the transaction back at once, so
running it again from the start does it once. A *lock timeout* (someone held a row or table
longer than the lock timeout) and a *timeout* (a statement ran too long) have used the time
a retry would need: with one request per worker, waiting again would hold the worker and
the taps queued behind it past the terminals' 10 s. An *outage* before COMMIT leaves nothing
behind; an outage during COMMIT leaves it unknown whether the transaction happened, which
only the caller can find out (`CommitUncertain`).
"""

from __future__ import annotations

import enum
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

T = TypeVar("T")


class Failure(enum.Enum):
    CONFLICT = "conflict"  # rolled back by the server; safe to run again
    LOCK_TIMEOUT = "lock timeout"  # waited for a lock too long; rolled back
    TIMEOUT = "timeout"  # a statement ran out of time
    OUTAGE = "outage"  # the server can't be reached or the connection broke
    ERROR = "error"  # anything else: a failed statement, a bug


# MariaDB/MySQL server errors: 1213 deadlock (also Galera's certification failure), 1205 lock
# wait timeout (row locks and metadata locks), 1969 max_statement_time exceeded, 1317 query
# interrupted. Client errors (CR_*) for a server that can't be reached or went away, and 1047
# and 1927 for a Galera node that is not ready or a connection the server killed.
_MYSQL_CONFLICT = frozenset({1213})
_MYSQL_LOCK_TIMEOUT = frozenset({1205})
_MYSQL_TIMEOUT = frozenset({1969, 1317})
_MYSQL_OUTAGE = frozenset({1047, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031})
# PostgreSQL SQLSTATEs: serialization failure and deadlock; lock_timeout and
# statement_timeout; connection exceptions (class 08) and the server shutting down (57P0x).
_PG_CONFLICT = frozenset({"40001", "40P01"})
_PG_LOCK_TIMEOUT = frozenset({"55P03"})
_PG_TIMEOUT = frozenset({"57014"})
_PG_OUTAGE_PREFIXES = ("08", "57P0")


def classify(exc: DBAPIError) -> Failure:
    """The kind of a driver error, the same for a statement and for COMMIT."""
    orig = exc.orig
    errno = getattr(orig, "errno", None)
    if errno is not None:
        if errno in _MYSQL_CONFLICT:
            return Failure.CONFLICT
        if errno in _MYSQL_LOCK_TIMEOUT:
            return Failure.LOCK_TIMEOUT
        if errno in _MYSQL_TIMEOUT:
            return Failure.TIMEOUT
        if errno in _MYSQL_OUTAGE:
            return Failure.OUTAGE
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _PG_CONFLICT:
            return Failure.CONFLICT
        if sqlstate in _PG_LOCK_TIMEOUT:
            return Failure.LOCK_TIMEOUT
        if sqlstate in _PG_TIMEOUT:
            return Failure.TIMEOUT
        if sqlstate.startswith(_PG_OUTAGE_PREFIXES):
            return Failure.OUTAGE
    if isinstance(orig, sqlite3.Error):
        return _classify_sqlite(orig)
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        return Failure.OUTAGE
    return Failure.ERROR


# SQLite's primary result codes (the extended ones carry them in the low byte).
_SQLITE_TIMEOUT = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED: the busy timeout ran out
_SQLITE_OUTAGE = frozenset({10, 13, 14})  # SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN


def _classify_sqlite(orig: sqlite3.Error) -> Failure:
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None:  # raised by the writer queue (`sqlite_writers`), without a code
        return Failure.LOCK_TIMEOUT if "database is locked" in str(orig) else Failure.ERROR
    if code & 0xFF in _SQLITE_TIMEOUT:
        return Failure.LOCK_TIMEOUT
    if code & 0xFF in _SQLITE_OUTAGE:
        return Failure.OUTAGE
    return Failure.ERROR


def is_outage(exc: DBAPIError) -> bool:
    """Whether a driver error means the database is unreachable (rather than a failed query)."""
    return classify(exc) is Failure.OUTAGE


@dataclass(frozen=True)
class Retries:
    """How often and for how long a conflicting transaction is run again.

    No attempt starts later than `within` seconds after the window opened. A Galera cluster
    that loses a node stalls for about 6 s (its suspect timeout) and a run may conflict
    before and after that while; the run after it still books. A run waits for a lock at
    most the lock timeout (2 s), so even the last one ends before a terminal gives up (10 s).
    """

    attempts: int = 10
    within: float = 7.0
    pause: float = 0.02  # the first pause; it doubles, with jitter, up to `longest_pause`
    longest_pause: float = 0.4

    def pause_before(self, attempt: int) -> float:
        pause = min(self.pause * 2 ** (attempt - 2), self.longest_pause)
        return random.uniform(0.5, 1.5) * pause  # noqa: S311 - jitter, not a secret


class NotCommitted(Exception):
    """The transaction was rolled back: nothing of it happened."""

    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(f"transaction rolled back ({failure.value}) after {attempts} attempts")
        self.failure = failure
        self.attempts = attempts


class CommitUncertain(Exception, Generic[T]):
    """The connection broke during COMMIT: the transaction may or may not have happened.

    `result` is what the work returned, for the caller to look up what became of it.
    """

    def __init__(self, result: T, attempts: int) -> None:
        super().__init__("the connection broke during COMMIT")
        self.result = result
        self.attempts = attempts


@dataclass(frozen=True)
class Committed(Generic[T]):
    result: T
    attempts: int


def run_transaction(
    session: Session,
    work: Callable[[], T],
    retries: Retries | None = None,
    *,
    started: float | None = None,
) -> Committed[T]:
    """Run `work` and commit; after a conflict roll back and run it again from the start.

    Raises NotCommitted when it was rolled back for good (a timeout, an outage before
    COMMIT, conflicts beyond `retries`) and CommitUncertain when the connection broke during
    COMMIT. Any other error is rolled back and raised as it is.
    `started` (of `time.monotonic()`) is when the retry window opens, if before the first run.
    """
    retries = retries or Retries()
    started = time.monotonic() if started is None else started
    attempt = 1
    while True:
        committing = False
        try:
            result = work()
            committing = True
            session.commit()
            return Committed(result, attempt)
        except DBAPIError as exc:
            session.rollback()
            failure = classify(exc)
            if committing and failure is Failure.OUTAGE:
                raise CommitUncertain(result, attempt) from exc
            if failure is Failure.ERROR:
                raise
            if failure not in _RUN_AGAIN or not _may_retry(retries, attempt, started):
                raise NotCommitted(failure, attempt) from exc
            log.info(
                "transaction %s (attempt %d), running it again: %s",
                failure.value,
                attempt,
                exc.orig,
            )
        except BaseException:
            session.rollback()
            raise
        attempt += 1
        time.sleep(retries.pause_before(attempt))


_RUN_AGAIN = frozenset({Failure.CONFLICT})


def _may_retry(retries: Retries, attempt: int, started: float) -> bool:
    return attempt < retries.attempts and time.monotonic() - started < retries.within


def commit_quietly(session: Session, work: Callable[[], Any], what: str) -> None:
    """Run and commit bookkeeping that must never fail the request around it (a key's
    `last_used_at`): any driver error is rolled back and logged, and the request goes on."""
    try:
        work()
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        log.warning("skipped %s: %s", what, exc.orig)
