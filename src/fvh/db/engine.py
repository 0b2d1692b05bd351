"""Engines and sessions for the three supported backends (SQLite, MariaDB/MySQL, PostgreSQL).

Nothing here connects at import time. Doors open one session per request or command and
commit at their boundary; services only flush.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Dialect, Engine, Executable, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    MultipleResultsFound,
    NoResultFound,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from fvh.db.sqlite_writers import QueuedConnection

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
        pool_recycle=1800,
        pool_timeout=10,
        # READ COMMITTED everywhere: the ledger relies on conditional UPDATEs that see the
        # newest committed balance, never on a snapshot read earlier in the transaction.
        isolation_level="READ COMMITTED",
    )
    if backend in {"mysql", "mariadb"}:
        kwargs["connect_args"] = {"connection_timeout": 5}
        kwargs["pool_reset_on_return"] = None  # `_reset_mysql` instead
    elif backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    if backend in {"mysql", "mariadb"}:
        event.listen(engine, "reset", _reset_mysql)
        if parsed.get_driver_name() == "mysqlconnector":
            _configure_mysql_connector(engine)
    return engine


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
            return bool(self._cmysql and self._cmysql.connected())

    return QuietConnection


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


def _run_sqlite(dbapi_connection: Any, statement: str) -> None:
    """A transaction-control statement on a sqlite3 connection; errors as SQLAlchemy's own."""
    try:
        dbapi_connection.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def backend_name(engine: Engine) -> str:
    return engine.url.get_backend_name()


def execute(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> Rows:
    """Run a prebuilt Core statement on the DB-API cursor of the session's connection.

    For the terminals' hot path, whose statements are module constants with bind
    parameters. SQLAlchemy compiles each once per dialect (`_prepare`); running it skips
    the engine's per-call execution layer, which cost a tap about as much CPU as all of its
    SQL together. Types are still converted by SQLAlchemy's own bind and result processors,
    driver errors are raised as SQLAlchemy's (`DBAPIError.instance`), and a lost connection
    is invalidated, as the engine would do. Pending ORM changes are flushed first.
    Connection events (`before_cursor_execute`, echo) do not see these statements:
    `statement_observers` does.
    """
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    prepared = _prepare(statement, dialect)
    values = prepared.parameters(params or {})
    pooled = connection.connection
    dbapi_connection = pooled.dbapi_connection
    assert dbapi_connection is not None
    for observe in statement_observers:
        observe(prepared.sql)
    cursor = _cursor(pooled.info, dbapi_connection)
    try:
        cursor.execute(prepared.sql, values)
        rows = prepared.rows(cursor.fetchall()) if cursor.description is not None else []
        return Rows(rows, cursor.rowcount, getattr(cursor, "lastrowid", None))  # not psycopg
    except dialect.loaded_dbapi.Error as exc:
        invalidated = dialect.is_disconnect(exc, dbapi_connection, cursor)
        pooled.info.pop(_CURSOR, None)
        _close_quietly(cursor)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            prepared.sql,
            values,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from exc


_CURSOR = "fvh_cursor"


def _close_quietly(cursor: Any) -> None:
    """Close a cursor after a failed statement; on a dead connection that may fail too."""
    with contextlib.suppress(Exception):
        cursor.close()


def _cursor(info: dict[str, Any], dbapi_connection: Any) -> Any:
    """The DB-API connection's cursor for `execute`, opened once and used again.

    Every statement reads its whole result, so the next one finds the cursor clean, and a
    new cursor per statement cost mysql-connector about as much as building its SQL. The
    pool clears `info` when it replaces the connection; a failed statement drops it.
    """
    kept = info.get(_CURSOR)
    if kept is not None and kept[0] is dbapi_connection:
        return kept[1]
    cursor = dbapi_connection.cursor()
    info[_CURSOR] = (dbapi_connection, cursor)
    return cursor


# Callables that see the SQL of every statement `execute` runs (tests count them).
statement_observers: list[Callable[[str], None]] = []


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
    row = execute(session, lookup.statement, lookup.params).one_or_none()
    return None if row is None else lookup.build(row)


class Rows:
    """What `execute` returns: the rows (already fetched), the row count, the new row's id."""

    __slots__ = ("_lastrowid", "_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: Any) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self._lastrowid = lastrowid

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def one(self) -> tuple[Any, ...]:
        if len(self._rows) != 1:
            raise (NoResultFound if not self._rows else MultipleResultsFound)(
                f"exactly one row was expected, there were {len(self._rows)}"
            )
        return self._rows[0]

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("more than one row where at most one was expected")
        return self._rows[0] if self._rows else None

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return row[0] if row is not None else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    @property
    def inserted_id(self) -> int:
        """The new row's primary key: its RETURNING value, else the driver's `lastrowid`."""
        return self._rows[0][0] if self._rows else self._lastrowid


class _Prepared:
    """A statement as compiled by SQLAlchemy for one dialect, with its type processors."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("statements with expanding parameters are not prepared")
        if compiled.insert_prefetch or compiled.update_prefetch:
            # Python-side column defaults are computed by the engine's execution layer.
            raise ValueError("give every column a value: Python-side defaults are not run here")
        self.compiled = compiled
        self.sql = compiled.string
        self.positional = compiled.positiontup
        self.bind_processors = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        }
        self.result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "exported_columns", ())
        ]

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = self.compiled.construct_params(params)
        for name, processor in self.bind_processors.items():
            if name in values:
                values[name] = processor(values[name])
        if self.positional is not None:
            return tuple(values[name] for name in self.positional)
        return values

    def rows(self, fetched: list[Any]) -> list[tuple[Any, ...]]:
        processors = self.result_processors
        if not any(processors):
            return [tuple(row) for row in fetched]
        return [
            tuple(p(value) if p else value for p, value in zip(processors, row, strict=True))
            for row in fetched
        ]


@functools.lru_cache(maxsize=512)
def _prepare(statement: Executable, dialect: Dialect) -> _Prepared:
    return _Prepared(statement, dialect)


def begin_read(session: Session) -> None:
    """Start the session's next transaction as a reader.

    On SQLite it then runs beside the writer instead of queueing for the write lock; end it
    with `end_read` before the first write. Elsewhere it does nothing: reads take no locks
    under READ COMMITTED, and the first statement begins the transaction. Does nothing
    when a transaction is already open.
    """
    if not session.in_transaction() and session.get_bind().dialect.name == "sqlite":
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
