"""SQLite writers queue on a lock file (`<database>-writer.lock`), not in the busy handler.

SQLite's busy handler retries in growing sleeps, so a writer could wait far longer than the
lock was held (BENCHMARKS.md). Each FVH connection takes an exclusive `flock` before its
`BEGIN IMMEDIATE` and releases it at commit or rollback; SQLite's own locking stays as it
is, so correctness never depends on this file. The wait sleeps in the kernel, bounded by an
alarm in a main thread without another alarm; elsewhere it polls in short steps.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import threading
import time
from typing import Any

_FIRST_WAIT = 0.0001
_LONGEST_WAIT = 0.001


def lock_path(database: str) -> str:
    return f"{database}-writer.lock"


class QueuedConnection(sqlite3.Connection):
    """A sqlite3 connection that holds the writer lock from `begin_write` to commit/rollback."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._locked = False
        try:
            # Private like the database (0600). Read access is enough for flock; another
            # user who can't open it (an admin running `fvh` by hand) writes without the
            # queue, so neither fails here nor locks the service out.
            self._lock_fd = os.open(lock_path(os.fspath(database)), os.O_RDONLY | os.O_CREAT, 0o600)
        except OSError:
            self._lock_fd = -1  # no queue: SQLite's own locking and busy handler, as before

    def begin_write(self, timeout: float) -> None:
        """Wait for the writer lock (at most `timeout` seconds), then BEGIN IMMEDIATE."""
        self._acquire(timeout)
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def _acquire(self, timeout: float) -> None:
        if self._locked or self._lock_fd < 0:
            return
        if not self._try_lock():
            if timeout <= 0:  # an alarm of 0 s would be no alarm at all
                raise _database_is_locked()
            if _alarm_is_free():
                self._wait_for_lock(timeout)
            else:
                self._poll_for_lock(timeout)
        self._locked = True

    def _try_lock(self) -> bool:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _wait_for_lock(self, timeout: float) -> None:
        """Sleep until the lock is ours; SIGALRM ends the wait after `timeout` seconds."""
        waiting = True

        def give_up(_signum: int, _frame: object) -> None:
            if waiting:  # an alarm that arrives after the lock was taken changes nothing
                raise _WaitedTooLong

        previous = signal.signal(signal.SIGALRM, give_up)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                waiting = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _WaitedTooLong:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)  # in case the alarm beat `waiting`
            raise _database_is_locked() from None
        finally:
            signal.signal(signal.SIGALRM, previous)

    def _poll_for_lock(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        wait = _FIRST_WAIT
        while not self._try_lock():
            if time.monotonic() >= deadline:
                raise _database_is_locked()
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)

    def _release(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


def _alarm_is_free() -> bool:
    """Whether a wait may use SIGALRM: only the main thread receives it, and an alarm that is
    already set belongs to someone else (pytest-timeout, say), whom ours would cancel."""
    return threading.current_thread() is threading.main_thread() and signal.getitimer(
        signal.ITIMER_REAL
    ) == (0.0, 0.0)


class _WaitedTooLong(Exception):
    """Raised by the alarm that bounds a writer's wait for the lock."""


def _database_is_locked() -> sqlite3.OperationalError:
    # What SQLite itself says when its busy timeout runs out.
    return sqlite3.OperationalError("database is locked")
