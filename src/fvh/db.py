"""Engines and sessions for the three supported backends (SQLite, MariaDB/MySQL, PostgreSQL).

Nothing here connects at import time. Doors open one session per request or command and
commit at their boundary; services only flush.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fvh.sqlite_writers import QueuedConnection

# A transaction begun with this execution option only reads: on SQLite it does not take the
# write lock (see `begin_read`).
READ_ONLY_OPTION = "fvh_read_only"

# Below the terminals' 10 s wait: a tap that can't get the write lock in time fails (503)
# instead of being booked after the terminal already gave up.
SQLITE_BUSY_TIMEOUT_MS = 8000


def create_db_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Create an engine with the settings each backend needs for holding money."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"]["factory"] = QueuedConnection  # writers queue on a file
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.update(
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=10,
        # READ COMMITTED everywhere: the ledger relies on conditional UPDATEs that see the
        # newest committed balance, never on a snapshot read earlier in the transaction.
        isolation_level="READ COMMITTED",
    )
    if backend in {"mysql", "mariadb"}:
        kwargs["connect_args"] = {"connection_timeout": 5}
    elif backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(url, **kwargs)
    if backend in {"mysql", "mariadb"} and parsed.get_driver_name() == "mysqlconnector":
        _configure_mysql_connector(engine)
    return engine


@functools.cache
def _quiet_mysql_connection() -> type | None:
    """mysql-connector's C-extension connection, minus its ping before every statement.

    Its `cursor()` asks `is_connected()`, which is a round trip to the server (a ping), and
    SQLAlchemy opens a cursor per statement: that doubled the round trips of every request.
    Here `is_connected()` asks the client library's own state instead. A connection the
    server dropped still fails its statement, which the pool treats as a disconnect, and
    the pool pings each connection when it is checked out. None without the C extension.
    """
    try:
        from mysql.connector.connection_cext import CMySQLConnection
    except ImportError:
        return None

    class QuietConnection(CMySQLConnection):
        def is_connected(self) -> bool:
            return bool(self._cmysql and self._cmysql.connected())

    return QuietConnection


def _configure_mysql_connector(engine: Engine) -> None:
    connection_class = _quiet_mysql_connection()
    if connection_class is None:  # no C extension on this machine: the library's defaults
        return

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return connection_class(*cargs, **cparams)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, full fsync, foreign keys, and BEGIN IMMEDIATE so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that our BEGIN is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction takes the write lock up front: a deferred transaction that reads and
        # then writes can fail with SQLITE_BUSY without waiting for the busy timeout. Only a
        # transaction declared read-only (`begin_read`) starts deferred, as a plain reader.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, QueuedConnection):
            _begin_writer(dbapi_connection)
        else:  # an in-memory database: one connection, nobody to queue with
            conn.exec_driver_sql("BEGIN IMMEDIATE")


# MySQL client errors (CR_*) for a server that can't be reached or went away. Which DB-API
# class carries them differs between mysql-connector versions (InterfaceError, DatabaseError).
_MYSQL_UNREACHABLE = frozenset({2002, 2003, 2005, 2006, 2013, 2055})


def is_outage(exc: DBAPIError) -> bool:
    """Whether a driver error means the database is unreachable (rather than a failed query)."""
    if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
        return True
    return getattr(exc.orig, "errno", None) in _MYSQL_UNREACHABLE


def _begin_writer(dbapi_connection: QueuedConnection) -> None:
    """Queue for SQLite's writer lock, then BEGIN IMMEDIATE; errors as SQLAlchemy's own."""
    try:
        dbapi_connection.begin_write(SQLITE_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc


def backend_name(engine: Engine) -> str:
    return engine.url.get_backend_name()


def execute(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> CursorResult[Any]:
    """Run a Core statement on the session's connection, past the ORM's execution layer.

    For the terminals' hot path, with statements built once (bind parameters, table
    columns): no per-call construction, cache-key or ORM-context work. Pending ORM changes
    are flushed first, as the ORM itself would.
    """
    session.flush()
    return session.connection().execute(statement, params)


def begin_read(session: Session) -> None:
    """Start the session's next transaction as a reader.

    On SQLite it then runs beside the writer instead of queueing for the write lock; end it
    with `end_read` before the first write. Elsewhere nothing changes: reads take no locks
    under READ COMMITTED. Does nothing when a transaction is already open.
    """
    if not session.in_transaction():
        session.connection(execution_options={READ_ONLY_OPTION: True})


def end_read(session: Session) -> None:
    """End a read phase: what the session executes next runs in a writing transaction.

    On SQLite the reader is committed (nothing to sync) and a writer begun on the same
    connection, once it is this connection's turn; the session's transaction goes on. On the
    servers the transaction simply goes on: reads took no locks.
    """
    if not session.in_transaction() or backend_name(session.get_bind()) != "sqlite":
        return
    connection = session.connection()
    if not connection.get_execution_options().get(READ_ONLY_OPTION):
        return
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, QueuedConnection):
        dbapi_connection.commit()  # the reader
        _begin_writer(dbapi_connection)
        connection.execution_options(**{READ_ONLY_OPTION: False})
    else:
        session.commit()


class Database:
    """An engine plus its session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size=pool_size)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """A real round trip to the server; raises the driver's error when it is unreachable."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
