"""Taking a backup: every FVH table read from one consistent state and written to one file.

Rows are read by keyset paging in primary-key order, so a large table never sits in memory
and the same code works on every backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    func,
    inspect,
    select,
    tuple_,
)
from sqlalchemy.pool import NullPool

from fvh import __version__
from fvh.db.models import Base
from fvh.ops.backup.fileformat import (
    BackupError,
    BackupHeader,
    TableInfo,
    atomic_text_file,
    end_line,
    row_line,
    write_line,
)
from fvh.ops.backup.revisions import known_revisions

BATCH_SIZE = 1000


@contextlib.contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
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


def _schema_revision(conn: Connection, known: list[str]) -> str:
    """The database's revision; refuses an empty database or one newer than this code."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None:
        raise BackupError("The database has no FVH schema: there is nothing to back up.")
    if revision not in known:
        raise BackupError(
            f"The database is at schema revision {revision}, which this FVH {__version__} "
            "does not know: back it up with the FVH version that migrated it."
        )
    return revision


def write_backup(engine: Engine, path: Path | str) -> BackupHeader:
    """Write a consistent snapshot of every FVH table to `path`; returns its header."""
    path = Path(path)
    known = known_revisions(engine)
    with consistent_read(engine) as conn:
        revision = _schema_revision(conn, known)
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
        with atomic_text_file(path) as stream:
            write_line(stream, header.to_json())
            for (table, columns), info in zip(tables, header.tables, strict=True):
                written = 0
                for row in _rows(conn, table, columns):
                    write_line(stream, row_line(table.name, row))
                    written += 1
                if written != info.rows:  # cannot happen inside one snapshot; never write a lie
                    raise BackupError(f"Table {table.name} changed while it was being read.")
            write_line(stream, end_line(header.total_rows))
    return header
