"""Engines and sessions for the three supported backends (SQLite, MariaDB/MySQL, PostgreSQL).

Nothing here connects at import time. Doors open one session per request or command and
commit at their boundary; services only flush.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from fvh.db.sqlite_writers import QueuedConnection

# A transaction begun with this execution option only reads: on SQLite it does not take the
# write lock (see `begin_read`).
READ_ONLY_OPTION = "fvh_read_only"

# Below the terminals' 10 s wait: a tap that can't get the write lock in time fails (503)
# instead of being booked after the terminal already gave up.
SQLITE_BUSY_TIMEOUT_MS = 8000


@dataclass(frozen=True)
class Timeouts:
    """Bounds on the servers (MariaDB/MySQL, PostgreSQL) for every transaction of an engine.

    A statement waits at most `lock` seconds for a row or table lock and runs at most
    `statement` seconds; then the server cancels it and the transaction is rolled back. On
    MariaDB/MySQL the client also gives up on an answer two seconds after that. The served
    app sets both well under a terminal's 10 s, so that a booking is never committed after
    the terminal gave up. The command line runs without them (migrations, imports).
    """

    lock: float = 2.0
    statement: float = 5.0


def create_db_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, timeouts: Timeouts | None = None
) -> Engine:
    """Create an engine with the settings each backend needs for holding money."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if parsed.database and parsed.database != ":memory:":
            _create_private_file(Path(parsed.database))
            kwargs["connect_args"]["factory"] = QueuedConnection  # writers queue on a file
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.update(
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        pool_timeout=10,
        # READ COMMITTED everywhere: the ledger relies on conditional UPDATEs that see the
        # newest committed balance, never on a snapshot read earlier in the transaction.
        isolation_level="READ COMMITTED",
    )
    if backend in {"mysql", "mariadb"}:
        kwargs["connect_args"] = {"connection_timeout": 5}
        kwargs["pool_reset_on_return"] = None  # `_reset_mysql` instead
        if timeouts is not None and parsed.get_driver_name() == "mysqlconnector":
            # The last bound, for waits the server does not limit (a COMMIT held by a Galera
            # cluster's flow control, a hung server): no answer this long is a lost
            # connection, which for a COMMIT the tap looks up (`terminal`).
            kwargs["connect_args"]["read_timeout"] = math.ceil(timeouts.statement) + 2
    elif backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
        if timeouts is not None:  # set by the server when the connection starts: no round trip
            kwargs["connect_args"]["options"] = (
                f"-c lock_timeout={_ms(timeouts.lock)} "
                f"-c statement_timeout={_ms(timeouts.statement)}"
            )
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    if backend in {"mysql", "mariadb"}:
        event.listen(engine, "reset", _reset_mysql)
        if parsed.get_driver_name() == "mysqlconnector":
            _configure_mysql_connector(engine)
        if timeouts is not None:
            _bound_mysql_waits(engine, timeouts)
    return engine


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _bound_mysql_waits(engine: Engine, timeouts: Timeouts) -> None:
    """Set a new connection's lock waits (row locks and metadata locks, such as a
    `FLUSH TABLES … WITH READ LOCK`: both default to a day or more) and, on MariaDB, its
    statement time."""
    lock = max(1, math.ceil(timeouts.lock))  # whole seconds only

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        settings = f"innodb_lock_wait_timeout = {lock}, lock_wait_timeout = {lock}"
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT VERSION()")
        if "mariadb" in str(cursor.fetchone()[0]).lower():
            settings += f", max_statement_time = {timeouts.statement:g}"
        cursor.execute(f"SET SESSION {settings}")
        cursor.close()


def _create_private_file(path: Path) -> None:
    """Create the SQLite file's folder (0700) and the empty file (0600) unless they exist.

    SQLite would create the file with the umask's mode (often 0644: readable by every local
    user); an empty file is a valid database. Its -wal and -shm files copy the file's mode.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# A pooled connection that rested longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """The pool's pre-ping, for connections that were idle: a dead one is replaced unseen.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, a round trip per request. Busy
    terminals reuse a connection within milliseconds, and a connection that answered a
    moment ago is as good as pinged (HikariCP skips its check within 0.5 s the same way).
    If the server restarts within that second, one request fails with 503 (nothing is
    booked) and the pool drops all its connections.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _rested_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["fvh_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("fvh_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # just connected, or answered a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            raise DisconnectionError(str(exc)) from exc  # the pool connects anew


def _reset_mysql(dbapi_connection: Any, _record: Any, _state: Any) -> None:
    """Roll back a connection going back to the pool only if a transaction is open on it.

    The pool's default is a ROLLBACK every time, a round trip to the server after every
    request, although every door ends its transactions itself. The driver knows from the
    server's last answer whether one is open (mysql-connector and mysqlclient alike).
    """
    if getattr(dbapi_connection, "in_transaction", True):
        dbapi_connection.rollback()


@functools.cache
def _quiet_mysql_connection() -> type | None:
    """mysql-connector's C-extension connection, minus its ping before every statement.

    Its `cursor()` asks `is_connected()`, which is a round trip to the server (a ping), and
    SQLAlchemy opens a cursor per statement: that doubled the round trips of every request.
    Here `is_connected()` asks the client library's own state instead. A connection the
    server dropped still fails its statement, which the pool treats as a disconnect, and
    a connection that rested is pinged when it is checked out (`_ping_idle_connections`).
    None without the C extension.
    """
    try:
        from mysql.connector.connection_cext import CMySQLConnection
    except ImportError:
        return None

    class QuietConnection(CMySQLConnection):
        def is_connected(self) -> bool:
            return not self.is_closed()

        # The C extension's commit and rollback let its own exception out, which is no
        # DB-API error: SQLAlchemy would pass it on unsorted, and a connection lost during
        # COMMIT would look like a bug (a 500) instead of an uncertain commit.
        def commit(self) -> None:
            with _as_driver_error():
                super().commit()

        def rollback(self) -> None:
            with _as_driver_error():
                super().rollback()

    return QuietConnection


@contextlib.contextmanager
def _as_driver_error() -> Iterator[None]:
    """Re-raise an error of mysql-connector's C extension as the library's DB-API error of
    the same number (`get_mysql_exception`, as the library does for statements)."""
    from mysql.connector import errors

    try:
        yield
    except errors.Error:
        raise
    except Exception as exc:
        errno = getattr(exc, "errno", None)
        if not isinstance(errno, int):
            raise
        message = getattr(exc, "msg", None) or str(exc)
        raise errors.get_mysql_exception(
            errno, msg=message, sqlstate=getattr(exc, "sqlstate", None)
        ) from exc


def _configure_mysql_connector(engine: Engine) -> None:
    connection_class = _quiet_mysql_connection()
    if connection_class is None:  # no C extension on this machine: the library's defaults
        return

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if _client_library_ready.is_set():
            return connection_class(*cargs, **cparams)
        # The C client library sets itself up (auth plugins) on a process's first connection,
        # and not thread-safely: threads that connected at once in a new process failed
        # with "Authentication plugin ... cannot be loaded: not initialized".
        with _first_connection:
            connection = connection_class(*cargs, **cparams)
            _client_library_ready.set()
            return connection


_first_connection = threading.Lock()
_client_library_ready = threading.Event()


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
        dbapi_connection = conn.connection.dbapi_connection
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            _run_sqlite(dbapi_connection, "BEGIN")  # every terminal request: past the engine
            return
        if isinstance(dbapi_connection, QueuedConnection):
            _begin_writer(dbapi_connection)
        else:  # an in-memory database: one connection, nobody to queue with
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_writer(dbapi_connection: QueuedConnection) -> None:
    """Queue for SQLite's writer lock, then BEGIN IMMEDIATE; errors as SQLAlchemy's own."""
    try:
        dbapi_connection.begin_write(SQLITE_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc


def _run_sqlite(dbapi_connection: Any, statement: str) -> None:
    """A transaction-control statement on a sqlite3 connection; errors as SQLAlchemy's own."""
    try:
        dbapi_connection.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def backend_name(engine: Engine) -> str:
    return engine.url.get_backend_name()


T = TypeVar("T")


@dataclass(frozen=True)
class Lookup(Generic[T]):
    """A read of at most one row, ready to run alone (`fetch`) or along with another query
    in the same round trip (`keys.authenticate_with`). The statement's first column is
    never NULL in a row it finds; `build` turns a row's values into the result."""

    statement: Select[Any]
    params: Mapping[str, Any]
    build: Callable[[Sequence[Any]], T]


def fetch(session: Session, lookup: Lookup[T]) -> T | None:
    """The lookup's result, None when it finds no row."""
    row = session.connection().execute(lookup.statement, lookup.params).one_or_none()
    return None if row is None else lookup.build(row)


def begin_read(session: Session) -> None:
    """Start the session's next transaction as a reader.

    On SQLite it then runs beside the writer instead of queueing for the write lock; end it
    with `begin_write` before the first write. Elsewhere it does nothing: reads take no locks
    under READ COMMITTED, and the first statement begins the transaction. Does nothing
    when a transaction is already open.
    """
    if not session.in_transaction() and session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={READ_ONLY_OPTION: True})


def begin_write(session: Session) -> None:
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

    def __init__(self, url: str, *, pool_size: int = 10, timeouts: Timeouts | None = None) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size=pool_size, timeouts=timeouts)
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
