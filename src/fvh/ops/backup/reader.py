"""Reading a backup file back: the header alone, or every row checked against the header.

Any damage (gzip CRC, truncation, bad JSON, rows the header doesn't announce, a missing end
marker) is a BackupError, so a restore can read the whole file before it writes anything.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fvh.ops.backup.fileformat import (
    FORMAT_NAME,
    FORMAT_VERSION,
    BackupError,
    BackupHeader,
    TableInfo,
    decode,
)


def damaged(path: Path, reason: str) -> BackupError:
    """The error for a file that is not a complete, consistent backup."""
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
        raise damaged(path, f"unreadable or truncated: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise damaged(path, f"invalid data: {exc}") from exc


def _parse_header(path: Path, obj: Any) -> BackupHeader:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise damaged(path, "no FVH backup header")
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
        raise damaged(path, f"incomplete header: {exc}") from exc


def read_header(path: Path | str) -> BackupHeader:
    """Only the header of a backup (what it contains, from which version)."""
    path = Path(path)
    for _number, obj in _lines(path):
        return _parse_header(path, obj)
    raise damaged(path, "empty file")


def read_rows(path: Path) -> Iterator[tuple[TableInfo, dict[str, Any]]]:
    """Every row with its table, checked against the header; raises on any inconsistency."""
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise damaged(path, "empty file")
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
                raise damaged(path, "the row counts do not match the header")
            if next(lines, None) is not None:
                raise damaged(path, "data after the end marker")
            return
        try:
            name, values = obj["t"], obj["r"]
            info = tables[name]
            while order[position] != name:  # tables come in header order, each once
                position += 1
            if len(values) != len(info.columns):
                raise ValueError("wrong number of values")
            row = dict(zip(info.columns, (decode(v) for v in values), strict=True))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise damaged(path, f"line {number} is not a valid row: {exc}") from exc
        seen[name] += 1
        if seen[name] > info.rows:
            raise damaged(path, f"more rows for {name} than the header announces")
        yield info, row
    raise damaged(path, "truncated: the end marker is missing")


def verify(path: Path | str) -> BackupHeader:
    """Read the whole file once: a damaged or truncated backup raises before anything is done."""
    path = Path(path)
    header = read_header(path)
    for _ in read_rows(path):
        pass
    return header
