"""Backup and restore: one portable file, written from and read into any supported backend.

The file is gzip'ed JSON lines: a header (format, FVH version, Alembic revision, creation
time, tables with their columns and row counts), then one line per row, table by table in
dependency order, then an end line. Bytes are tagged base64, datetimes tagged ISO text, so a
backup taken on SQLite restores on MariaDB or PostgreSQL and back.

The table list is `Base.metadata.sorted_tables`: a table added by a later migration is
included without touching this module.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from fvh import __version__, ledger, migrate
from fvh.errors import DomainError
from fvh.models import Base

FORMAT_NAME = "fvh-backup"
FORMAT_VERSION = 1
BATCH_SIZE = 1000


class BackupError(DomainError):
    """A backup can't be written, or a file can't (or mustn't) be restored."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: list[str]
    rows: int


@dataclass(frozen=True)
class BackupHeader:
    revision: str
    fvh_version: str
    created_at: str
    backend: str
    tables: list[TableInfo]

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "fvh_version": self.fvh_version,
            "alembic_revision": self.revision,
            "created_at": self.created_at,
            "backend": self.backend,
            "tables": [{"name": t.name, "columns": t.columns, "rows": t.rows} for t in self.tables],
        }


# --- values --------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """A column value as JSON; bytes and times are tagged so that they come back typed."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    return value


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"unknown value {value!r}")
    ((tag, raw),) = value.items()
    if tag == "base64":
        return base64.b64decode(raw, validate=True)
    if tag == "datetime":
        return datetime.fromisoformat(raw)
    if tag == "date":
        return date.fromisoformat(raw)
    if tag == "decimal":
        return Decimal(raw)
    raise ValueError(f"unknown value tag {tag!r}")


# --- revisions -----------------------------------------------------------------------------


def _revision_order(engine: Engine) -> list[str]:
    """The migration revisions this code knows, oldest first (the history is linear)."""
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


# --- writing -------------------------------------------------------------------------------


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one consistent state of the database."""
    if engine.dialect.name == "sqlite":
        # The app's engine starts every transaction with BEGIN IMMEDIATE (the write lock);
        # a reader only needs a deferred transaction, which in WAL mode is a snapshot.
        reader = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 15})

        @event.listens_for(reader, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(reader, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN DEFERRED")

        try:
            with reader.connect() as conn, conn.begin():
                yield conn
        finally:
            reader.dispose()
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _tables_to_save(conn: Connection) -> list[tuple[Table, list[str]]]:
    """The model tables present in the database, each with the columns it really has."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    result = []
    for table in Base.metadata.sorted_tables:
        if table.name in existing:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            result.append((table, [c.name for c in table.columns if c.name in present]))
    return result


def _rows(conn: Connection, table: Table, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """All rows ordered by primary key, fetched in batches (keyset paging, any backend)."""
    pk = list(table.primary_key.columns)
    positions = [columns.index(c.name) for c in pk]
    query = select(*(table.c[name] for name in columns)).order_by(*pk).limit(BATCH_SIZE)
    last: list[Any] | None = None
    while True:
        page = query
        if last is not None:
            page = query.where(pk[0] > last[0] if len(pk) == 1 else tuple_(*pk) > tuple_(*last))
        batch = conn.execute(page).all()
        yield from batch
        if len(batch) < BATCH_SIZE:
            return
        last = [batch[-1][i] for i in positions]


@contextlib.contextmanager
def _atomic_text_file(path: Path) -> Iterator[IO[str]]:
    """A gzip'ed text stream that appears at `path` only when complete (temp file + rename)."""
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        raise BackupError(f"The directory {directory} does not exist.")
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            with (
                gzip.GzipFile(filename="", fileobj=raw, mode="wb") as compressed,
                io.TextIOWrapper(compressed, encoding="utf-8", newline="\n") as stream,
            ):
                yield stream
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where possible
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _line(stream: IO[str], obj: Any) -> None:
    stream.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    stream.write("\n")


def write_backup(engine: Engine, path: Path | str) -> BackupHeader:
    """Write a consistent snapshot of every FVH table to `path`; returns its header."""
    path = Path(path)
    known = _revision_order(engine)
    with _snapshot(engine) as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        if revision is None:
            raise BackupError("The database has no FVH schema: there is nothing to back up.")
        if revision not in known:
            raise BackupError(
                f"The database is at schema revision {revision}, which this FVH {__version__} "
                "does not know: back it up with the FVH version that migrated it."
            )
        tables = _tables_to_save(conn)
        header = BackupHeader(
            revision=revision,
            fvh_version=__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            backend=conn.dialect.name,
            tables=[
                TableInfo(
                    table.name,
                    columns,
                    conn.scalar(select(func.count()).select_from(table)) or 0,
                )
                for table, columns in tables
            ],
        )
        with _atomic_text_file(path) as stream:
            _line(stream, header.to_json())
            for (table, columns), info in zip(tables, header.tables, strict=True):
                written = 0
                for row in _rows(conn, table, columns):
                    _line(stream, {"t": table.name, "r": [_encode(v) for v in row]})
                    written += 1
                if written != info.rows:  # cannot happen inside one snapshot; never write a lie
                    raise BackupError(f"Table {table.name} changed while it was being read.")
            _line(stream, {"end": True, "rows": header.total_rows})
    return header


# --- reading -------------------------------------------------------------------------------


def _damaged(path: Path, reason: str) -> BackupError:
    return BackupError(f"{path} is not a complete FVH backup ({reason}); nothing was restored.")


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    """The decoded JSON lines; any damage (gzip CRC, truncation, bad JSON) is a BackupError."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file.")
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as stream:
            for number, line in enumerate(stream, 1):
                yield number, json.loads(line)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise _damaged(path, f"unreadable or truncated: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise _damaged(path, f"invalid data: {exc}") from exc


def _parse_header(path: Path, obj: Any) -> BackupHeader:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise _damaged(path, "no FVH backup header")
    if obj.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} has backup format version {obj.get('format_version')}; "
            f"this FVH reads version {FORMAT_VERSION}."
        )
    try:
        return BackupHeader(
            revision=str(obj["alembic_revision"]),
            fvh_version=str(obj["fvh_version"]),
            created_at=str(obj["created_at"]),
            backend=str(obj["backend"]),
            tables=[
                TableInfo(str(t["name"]), [str(c) for c in t["columns"]], int(t["rows"]))
                for t in obj["tables"]
            ],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, f"incomplete header: {exc}") from exc


def read_header(path: Path | str) -> BackupHeader:
    """Only the header of a backup (what it contains, from which version)."""
    path = Path(path)
    for _number, obj in _lines(path):
        return _parse_header(path, obj)
    raise _damaged(path, "empty file")


def _read_rows(path: Path) -> Iterator[tuple[TableInfo, dict[str, Any]]]:
    """Every row with its table, checked against the header; raises on any inconsistency."""
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise _damaged(path, "empty file")
    header = _parse_header(path, first[1])
    tables = {t.name: t for t in header.tables}
    order = [t.name for t in header.tables]
    seen = dict.fromkeys(order, 0)
    position = 0
    for number, obj in lines:
        if isinstance(obj, dict) and obj.get("end") is True:
            if obj.get("rows") != header.total_rows or any(
                seen[t.name] != t.rows for t in header.tables
            ):
                raise _damaged(path, "the row counts do not match the header")
            if next(lines, None) is not None:
                raise _damaged(path, "data after the end marker")
            return
        try:
            name, values = obj["t"], obj["r"]
            info = tables[name]
            while order[position] != name:  # tables come in header order, each once
                position += 1
            if len(values) != len(info.columns):
                raise ValueError("wrong number of values")
            row = dict(zip(info.columns, (_decode(v) for v in values), strict=True))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _damaged(path, f"line {number} is not a valid row: {exc}") from exc
        seen[name] += 1
        if seen[name] > info.rows:
            raise _damaged(path, f"more rows for {name} than the header announces")
        yield info, row
    raise _damaged(path, "truncated: the end marker is missing")


def verify(path: Path | str) -> BackupHeader:
    """Read the whole file once: a damaged or truncated backup raises before anything is done."""
    path = Path(path)
    header = read_header(path)
    for _ in _read_rows(path):
        pass
    return header


# --- restoring -----------------------------------------------------------------------------


def _rows_in_fvh_tables(conn: Connection, names: set[str]) -> dict[str, int]:
    existing = set(inspect(conn).get_table_names())
    counts = {}
    for name in sorted(names & existing):
        table = Table(name, MetaData())
        count = conn.scalar(select(func.count()).select_from(table)) or 0
        if count:
            counts[name] = count
    return counts


def _require_empty(conn: Connection, names: set[str]) -> None:
    filled = _rows_in_fvh_tables(conn, names)
    if filled:
        listing = ", ".join(f"{name} ({count} rows)" for name, count in filled.items())
        raise BackupError(
            "Restore needs an empty database, but it already holds data: "
            f"{listing}. Restore into a new, empty database (the schema is created)."
        )


def _prepare_schema(engine: Engine, header: BackupHeader, known: list[str]) -> None:
    """Bring the target to the backup's revision; refuse a backup newer than this code."""
    if header.revision not in known:
        raise BackupError(
            f"The backup is at schema revision {header.revision}, newer than this FVH "
            f"{__version__} (newest known: {known[-1]}): restore it with a newer FVH."
        )
    current = migrate.current_revision(engine)
    if current == header.revision:
        return
    if current is None or known.index(current) < known.index(header.revision):
        migrate.upgrade(engine, header.revision)
        return
    raise BackupError(
        f"The target database already has schema revision {current}, newer than the "
        f"backup's {header.revision}: restore into a database without schema."
    )


def _target_tables(conn: Connection, header: BackupHeader) -> dict[str, Table]:
    """The tables as they exist in the target (at the backup's revision), checked to fit."""
    missing_tables = {t.name for t in header.tables} - set(inspect(conn).get_table_names())
    if missing_tables:
        raise BackupError(f"The target has no table(s) {', '.join(sorted(missing_tables))}.")
    metadata = MetaData()
    metadata.reflect(bind=conn, only=[t.name for t in header.tables])
    tables = {}
    for info in header.tables:
        table = metadata.tables[info.name]
        missing = set(info.columns) - set(table.c.keys())
        if missing:
            raise BackupError(f"Table {info.name} has no column(s) {', '.join(sorted(missing))}.")
        tables[info.name] = table
    return tables


class _TableLoader:
    """Inserts one table's rows in batches; self-references are set once all rows exist."""

    def __init__(self, session: Session, table: Table) -> None:
        self.session = session
        self.table = table
        self.self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
        self.pk = [c.name for c in table.primary_key.columns]
        self.batch: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        for name in self.self_refs:
            if row.get(name) is not None:
                self.links.append(
                    {**{f"pk_{k}": row[k] for k in self.pk}, "col": name, "value": row[name]}
                )
                row[name] = None
        self.batch.append(row)
        if len(self.batch) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.session.execute(insert(self.table), self.batch)
            self.batch = []

    def finish(self) -> None:
        self.flush()
        for name in self.self_refs:
            params = [link for link in self.links if link["col"] == name]
            if not params:
                continue
            statement = (
                update(self.table)
                .where(*(self.table.c[k] == bindparam(f"pk_{k}") for k in self.pk))
                .values({name: bindparam("value")})
            )
            self.session.connection().execute(
                statement, [{k: v for k, v in p.items() if k != "col"} for p in params]
            )


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL hands out ids from sequences that explicit ids don't advance: move them."""
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            continue
        column = quote(pk[0].name)
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "  # noqa: S608
                f"COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {quote(table.name)}"
            ),
            {"table": quote(table.name), "column": pk[0].name},
        )


def restore_backup(engine: Engine, path: Path | str) -> BackupHeader:
    """Load a backup into an empty database of any backend, in one transaction.

    The file is read completely first, so a damaged one changes nothing. The schema is
    migrated to the backup's revision, the rows go in, the ledger is checked, and only then
    is the transaction committed; afterwards the schema is migrated on to this code's head.
    """
    path = Path(path)
    header = verify(path)
    known = _revision_order(engine)
    names = {t.name for t in Base.metadata.sorted_tables} | {t.name for t in header.tables}
    with engine.connect() as conn:
        _require_empty(conn, names)
        conn.rollback()
    _prepare_schema(engine, header, known)
    with Session(engine) as session, session.begin():
        conn = session.connection()
        _require_empty(conn, names)  # again, inside the transaction that writes
        tables = _target_tables(conn, header)
        loader: _TableLoader | None = None
        for info, row in _read_rows(path):
            if loader is None or loader.table.name != info.name:
                if loader is not None:
                    loader.finish()
                loader = _TableLoader(session, tables[info.name])
            loader.add(row)
        if loader is not None:
            loader.finish()
        _reset_sequences(conn, list(tables.values()))
        mismatches = ledger.check(session)
        if mismatches:
            codes = ", ".join(m.code for m in mismatches[:10])
            raise BackupError(
                f"The restored ledger is inconsistent (balance ≠ journal sum for {codes}); "
                "nothing was restored."
            )
    if header.revision != known[-1]:
        migrate.upgrade(engine)
    return header
