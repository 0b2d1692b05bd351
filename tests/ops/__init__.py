"""Operations: backup, restore and the legacy import.

`table_rows` is shared by both test modules: every FVH table, normalised so that the same
data compares equal whatever backend holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select

from fvh.db import Database
from fvh.db.models import Base


def _normalise(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, datetime):
        # MariaDB's DATETIME keeps whole seconds: compare at that resolution.
        return value.replace(microsecond=0)
    return value


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every FVH table present, sorted by primary key (in Python: collations
    differ between backends)."""
    database = Database(url, pool_size=1)
    try:
        with database.engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            result = {}
            for table in Base.metadata.sorted_tables:
                if table.name not in present:
                    continue
                pk = [table.columns.keys().index(c.name) for c in table.primary_key.columns]
                rows = [tuple(_normalise(v) for v in row) for row in conn.execute(select(table))]
                result[table.name] = sorted(rows, key=lambda row: [row[i] for i in pk])
            conn.rollback()
            return result
    finally:
        database.dispose()
