"""Restoring a backup: an empty database of any backend gets the file's rows, or nothing.

A fresh installation counts as empty: `fvh db upgrade` put only the bootstrap admin in it,
and as long as nobody has used it the restore replaces it (the disaster recovery path: new
machine, install, restore).

The file is read completely first, so a damaged one changes nothing. The schema is migrated
to the backup's revision, the rows go in, the ledger is checked, and only then is the one
transaction committed; afterwards the schema is migrated on to this code's head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from fvh import __version__
from fvh.core import ledger, members
from fvh.db import migrate
from fvh.db.models import Base
from fvh.ops.backup.fileformat import BackupError, BackupHeader
from fvh.ops.backup.reader import read_rows, verify
from fvh.ops.backup.revisions import known_revisions

BATCH_SIZE = 1000  # rows per INSERT


def _rows_in_fvh_tables(conn: Connection, names: set[str]) -> dict[str, int]:
    existing = set(inspect(conn).get_table_names())
    counts = {}
    for name in sorted(names & existing):
        table = Table(name, MetaData())
        count = conn.scalar(select(func.count()).select_from(table)) or 0
        if count:
            counts[name] = count
    return counts


# What `fvh db upgrade` writes into a new database: the bootstrap admin and the audit line of
# its creation. A fresh installation holds them, and restoring is how a new machine takes
# over, so they count as empty as long as nobody has used them.
_BOOTSTRAP_ROWS = {"members": 1, "audit_log": 1}
_UNTOUCHED_ADMIN = {
    "code": members.BOOTSTRAP_ADMIN_CODE,
    "first_name": "Admin",
    "last_name": "FVH",
    "email": None,
    "is_admin": True,
    "locked": False,
    "must_change_password": True,  # the first login sets a new password
    "balance_cents": 0,
    "session_version": 1,
}
_ITS_CREATION = {
    "action": "member.create",
    "target": members.BOOTSTRAP_ADMIN_CODE,
    "actor_kind": "system",
}


def _one_row(conn: Connection, name: str) -> dict[str, Any]:
    table = Table(name, MetaData(), autoload_with=conn)
    return dict(conn.execute(select(table)).mappings().one())


def _only_the_untouched_bootstrap_admin(conn: Connection, filled: dict[str, int]) -> bool:
    """Whether the rows are just the bootstrap admin of `fvh db upgrade`, never logged in
    or changed (nothing else in any table), and the audit line of its creation."""
    if filled != _BOOTSTRAP_ROWS:
        return False
    admin, created = _one_row(conn, "members"), _one_row(conn, "audit_log")
    expected = [(admin, _UNTOUCHED_ADMIN), (created, _ITS_CREATION)]
    return all(row.get(key) == value for row, wanted in expected for key, value in wanted.items())


def _require_empty(conn: Connection, names: set[str]) -> bool:
    """Refuse a database that holds data; True when it holds only the untouched bootstrap
    admin (which the restore replaces)."""
    filled = _rows_in_fvh_tables(conn, names)
    if not filled:
        return False
    if _only_the_untouched_bootstrap_admin(conn, filled):
        return True
    listing = ", ".join(f"{name} ({count} rows)" for name, count in filled.items())
    raise BackupError(
        "Restore needs an empty database (or one with only the untouched admin "
        f"{members.BOOTSTRAP_ADMIN_CODE} of `fvh db upgrade`), but it already holds data: "
        f"{listing}. Restore into a new, empty database (the schema is created)."
    )


def _drop_schema(engine: Engine, names: set[str]) -> None:
    """Drop FVH's tables and the migration record: a fresh installation of a newer FVH than
    the backup's holds nothing worth keeping, and a schema can only be built up to the
    backup's revision, not taken down to it."""
    with engine.begin() as conn:
        wanted = (names | {"alembic_version"}) & set(inspect(conn).get_table_names())
        metadata = MetaData()
        metadata.reflect(bind=conn, only=sorted(wanted))
        metadata.drop_all(bind=conn)


def _is_newer(engine: Engine, revision: str, known: list[str]) -> bool:
    current = migrate.current_revision(engine)
    return revision in known and current in known and known.index(current) > known.index(revision)


def _remove_bootstrap_admin(conn: Connection) -> None:
    audit_log = Table("audit_log", MetaData(), autoload_with=conn)
    members_table = Table("members", MetaData(), autoload_with=conn)
    conn.execute(audit_log.delete())
    conn.execute(members_table.delete())


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


def _load_rows(session: Session, path: Path, tables: dict[str, Table]) -> None:
    """Every row of the file into its table, one table after the other."""
    loader: _TableLoader | None = None
    for info, row in read_rows(path):
        if loader is None or loader.table.name != info.name:
            if loader is not None:
                loader.finish()
            loader = _TableLoader(session, tables[info.name])
        loader.add(row)
    if loader is not None:
        loader.finish()


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


def _require_consistent_ledger(session: Session) -> None:
    mismatches = ledger.check(session)
    if mismatches:
        codes = ledger.describe(mismatches)
        raise BackupError(
            f"The restored ledger is inconsistent (balance ≠ journal sum for {codes}); "
            "nothing was restored."
        )


def restore_backup(engine: Engine, path: Path | str) -> BackupHeader:
    """Load a backup into an empty database of any backend, in one transaction."""
    path = Path(path)
    header = verify(path)
    known = known_revisions(engine)
    names = {t.name for t in Base.metadata.sorted_tables} | {t.name for t in header.tables}
    with engine.connect() as conn:
        fresh_installation = _require_empty(conn, names)
        conn.rollback()
    if fresh_installation and _is_newer(engine, header.revision, known):
        _drop_schema(engine, names)
    _prepare_schema(engine, header, known)
    with Session(engine) as session, session.begin():
        conn = session.connection()
        if _require_empty(conn, names):  # again, inside the transaction that writes
            _remove_bootstrap_admin(conn)
        tables = _target_tables(conn, header)
        _load_rows(session, path, tables)
        _reset_sequences(conn, list(tables.values()))
        _require_consistent_ledger(session)
    if header.revision != known[-1]:
        migrate.upgrade(engine)
    return header
