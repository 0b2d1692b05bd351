"""The SQLite database holds names and balances: only its owner may read it (outside systemd)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fvh.db.engine import create_db_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common 022, which would leave SQLite's own files readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_database_file_and_folder_are_private(tmp_path, usual_umask):
    database = tmp_path / "data" / "fvh.db"
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as connection:  # the WAL and its index exist while connected
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert mode(database.parent) == 0o700
            assert mode(database) == 0o600
            for suffix in ("-wal", "-shm", "-writer.lock"):
                companion = Path(f"{database}{suffix}")
                assert companion.exists(), suffix
                assert mode(companion) == 0o600, suffix
    finally:
        engine.dispose()


def test_an_existing_database_keeps_its_mode(tmp_path, usual_umask):
    """An admin's own choice (e.g. a group that reads backups) is left alone."""
    database = tmp_path / "fvh.db"
    database.touch()
    database.chmod(0o640)
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert mode(database) == 0o640
    finally:
        engine.dispose()
