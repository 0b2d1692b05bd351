"""The backup file: gzip'ed JSON lines, and how one is written without ever leaving half a file.

A header (format, FVH version, Alembic revision, creation time, tables with their columns and
row counts), then one line per row (`{"t": table, "r": [values]}`), table by table in
dependency order, then an end line with the total. Bytes are tagged base64, datetimes tagged
ISO text, so a backup taken on SQLite restores on MariaDB or PostgreSQL and back.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gzip
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from fvh.core.errors import DomainError

FORMAT_NAME = "fvh-backup"
FORMAT_VERSION = 1


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


def encode(value: Any) -> Any:
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


def decode(value: Any) -> Any:
    """The column value `encode` wrote; an unknown tag is a ValueError."""
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


# --- writing -------------------------------------------------------------------------------


# A temporary backup file: `.NAME.` + tempfile's eight random characters + `.tmp`.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_GZIP_MAGIC = b"\x1f\x8b"
# A temp file this young may belong to a backup that has not yet locked it.
STALE_AFTER_SECONDS = 60


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete the temp files that killed backups left in `directory`; return them.

    A writing backup holds a lock on its temp file (`atomic_text_file`), which the system
    releases when the process dies: a temp file that can be locked, is not brand new and is
    empty or gzip is one whose writer is gone. Other files are never touched.
    """
    removed = []
    for entry in directory.iterdir():
        if not _TEMP_NAME.fullmatch(entry.name) or not entry.is_file():
            continue
        try:
            with entry.open("rb") as stale:
                fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a running backup has it
                if time.time() - os.fstat(stale.fileno()).st_mtime < STALE_AFTER_SECONDS:
                    continue
                if stale.read(2) not in (b"", _GZIP_MAGIC):
                    continue
                entry.unlink()
                removed.append(entry)
        except OSError:  # locked, or gone meanwhile
            continue
    return removed


@contextlib.contextmanager
def atomic_text_file(path: Path) -> Iterator[IO[str]]:
    """A gzip'ed text stream that appears at `path` only when complete (temp file + rename).

    The temp file is locked while it is written, so that the next backup can tell the one
    a killed backup left behind (and removes it) from one being written.
    """
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        raise BackupError(f"The directory {directory} does not exist.")
    remove_stale_temp_files(directory)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed, also by a crash
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


def write_line(stream: IO[str], obj: Any) -> None:
    """One compact JSON line."""
    stream.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    stream.write("\n")


def row_line(table: str, values: Iterable[Any]) -> dict[str, Any]:
    """The line of one row of `table`, its values encoded."""
    return {"t": table, "r": [encode(v) for v in values]}


def end_line(total_rows: int) -> dict[str, Any]:
    """The last line: a file without it was cut short."""
    return {"end": True, "rows": total_rows}
