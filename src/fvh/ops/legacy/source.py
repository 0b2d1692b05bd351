"""The original FVH's MySQL/MariaDB database: how to connect, and every query the import runs.

All knowledge of the legacy schema's tables and SQL is here; the import steps get plain
dicts with the legacy column names. The connection is one read-only REPEATABLE READ
transaction, so the import sees one consistent state of the legacy data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from fvh.core.errors import DomainError

Row = dict[str, Any]
REQUIRED_TABLES = frozenset({"users", "transactions"})


class LegacyImportError(DomainError):
    """The legacy database can't be read or imported; nothing was written."""


def legacy_url(url: str) -> str:
    """A SQLAlchemy URL for the legacy server: MySQL/MariaDB via mysql-connector, utf8mb4."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise LegacyImportError(f"Not a database URL: {url!r}.") from exc
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        raise LegacyImportError(
            "The legacy database must be MySQL/MariaDB (mysql+mysqlconnector://...)."
        )
    parsed = parsed.set(drivername="mysql+mysqlconnector")
    if "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


def display_url(url: str) -> str:
    """The legacy URL as shown in reports and the audit log: without the password."""
    return make_url(legacy_url(url)).render_as_string(hide_password=True)


@contextmanager
def open_legacy(url: str) -> Iterator[Connection]:
    """A read-only view of the legacy database: one REPEATABLE READ transaction."""
    engine = create_engine(legacy_url(url), isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn:  # closing rolls the read-only transaction back
            yield conn
    finally:
        engine.dispose()


def _rows(conn: Connection, sql: str, **params: Any) -> list[Row]:
    return [dict(row._mapping) for row in conn.execute(text(sql), params)]


def table_names(conn: Connection) -> set[str]:
    """The legacy tables present; raises unless it looks like an FVH database at all."""
    tables = set(inspect(conn).get_table_names())
    missing = REQUIRED_TABLES - tables
    if missing:
        raise LegacyImportError(
            f"Not an FVH database: table(s) {', '.join(sorted(missing))} missing."
        )
    return tables


def users(conn: Connection) -> list[Row]:
    return _rows(conn, "SELECT * FROM users ORDER BY id")


def journal_size(conn: Connection, user_id: int) -> int:
    """How many legacy transactions a user has (for the ones that are skipped)."""
    return (
        conn.scalar(text("SELECT COUNT(*) FROM transactions WHERE user_id = :id"), {"id": user_id})
        or 0
    )


def journal(conn: Connection, user_id: int) -> list[Row]:
    """A user's legacy transactions, oldest first."""
    return _rows(
        conn,
        "SELECT id, beschreibung, saldo_aenderung, timestamp FROM transactions "
        "WHERE user_id = :user_id ORDER BY timestamp, id",
        user_id=user_id,
    )


def notification_optins(conn: Connection) -> list[Row]:
    """(benutzer_id, event_schluessel) of every e-mail notification a user switched on."""
    return _rows(
        conn,
        "SELECT s.benutzer_id, t.event_schluessel FROM "
        "benutzer_benachrichtigungseinstellungen s JOIN benachrichtigungstypen t "
        "ON t.id = s.typ_id WHERE s.email_aktiviert = 1 ORDER BY s.benutzer_id",
    )


def nfc_tokens(conn: Connection) -> list[Row]:
    return _rows(conn, "SELECT * FROM nfc_token ORDER BY token_id")


def api_users(conn: Connection) -> list[Row]:
    return _rows(conn, "SELECT * FROM api_users ORDER BY id")


def api_keys(conn: Connection) -> list[Row]:
    return _rows(conn, "SELECT * FROM api_keys ORDER BY id")


def system_settings(conn: Connection) -> list[Row]:
    return _rows(conn, "SELECT einstellung_schluessel, einstellung_wert FROM system_einstellungen")
