"""Backup and restore: one portable file, written from and read into any supported backend.

- `fileformat`: what the file holds (header, typed values, lines) and how it is written safely;
- `reader`: reading a file back, checking every line against its header;
- `snapshot`: taking a backup from one consistent state of the database;
- `restore`: loading a backup into an empty database, checked before it is committed;
- `revisions`: the schema revisions this code can write and restore.

The table list is `Base.metadata.sorted_tables`: a table added by a later migration is
included without touching this package.
"""

from __future__ import annotations

from fvh.ops.backup import fileformat, reader, restore, revisions, snapshot
from fvh.ops.backup.fileformat import (
    FORMAT_NAME,
    FORMAT_VERSION,
    BackupError,
    BackupHeader,
    TableInfo,
)
from fvh.ops.backup.reader import read_header, verify
from fvh.ops.backup.restore import restore_backup
from fvh.ops.backup.snapshot import write_backup

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BackupError",
    "BackupHeader",
    "TableInfo",
    "fileformat",
    "read_header",
    "reader",
    "restore",
    "restore_backup",
    "revisions",
    "snapshot",
    "verify",
    "write_backup",
]
