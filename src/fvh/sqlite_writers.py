"""SQLite writers queue on a lock file, not in SQLite's busy handler.

SQLite lets one writer at a time into a database. A writer that finds the write lock taken
waits in the busy handler, which sleeps in growing steps (1, 2, 5, 10 … 100 ms) and retries:
with a few terminals tapping at once, some taps waited hundreds of milliseconds for a lock
that was free again after one. Here every connection of FVH takes an exclusive `flock` on
`<database>-writer.lock` before its `BEGIN IMMEDIATE` and gives it back right after its
commit or rollback, polling in steps of at most a millisecond. SQLite's own locking stays as
it is, so correctness never depends on this file: it only orders FVH's writers (other
programs that write the database still meet SQLite's busy handler).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
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
            # Read access is enough for flock: another user that may read the folder (an
            # admin running `fvh` by hand) neither fails here nor locks the service out.
            self._lock_fd = os.open(lock_path(os.fspath(database)), os.O_RDONLY | os.O_CREAT, 0o644)
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
        deadline = time.monotonic() + timeout
        wait = _FIRST_WAIT
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    # What SQLite itself says when its busy timeout runs out.
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(wait)
                wait = min(wait * 2, _LONGEST_WAIT)
            else:
                self._locked = True
                return

    def _release(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
