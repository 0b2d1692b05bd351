"""`fvh backup` and `fvh restore`: one portable file, round trips over every backend."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

from fvh.core import audit, keys, ledger, members, system_settings, tokens
from fvh.db import Database, migrate
from fvh.db.models import Base, Member, Transaction
from fvh.ops import backup
from fvh.ops.backup import fileformat
from fvh.ops.cli import main
from tests.conftest import (
    BACKENDS,
    TEST_HASH_METHOD,
    create_server_database,
    drop_server_database,
    empty_all_tables,
)
from tests.ops import table_rows

PASSWORD = "richtig-geheim-1"
TOKEN_4 = bytes.fromhex("04a22b1c")
TOKEN_7 = bytes.fromhex("04112233445566")
ACTOR = audit.Actor.system("tests")


@pytest.fixture
def fvh(config, app):
    """Run `fvh ...`; `database_url` points it at another database than the test's."""
    runner = CliRunner()
    base_env = {key: str(value) for key, value in config.items() if key.isupper()}

    def run(*args: str, database_url: str | None = None, ok: bool = True):
        env = dict(base_env)
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


@pytest.fixture
def new_database(tmp_path):
    """Factory for an empty database without schema on a backend; server ones are dropped."""
    created: list[tuple[str, str]] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"fvh_restore_{uuid.uuid4().hex[:10]}"
        url = create_server_database(backend, name)
        created.append((backend, name))
        return url

    yield make
    for backend, name in created:
        drop_server_database(backend, name)


@pytest.fixture
def filled(build, database, client) -> dict[str, str]:
    """A database with something in every kind of row; returns the secrets to check later."""
    admin = build.member(
        code="1000000001",
        first_name="Erika",
        last_name="Brand",
        email="erika@example.org",
        password=PASSWORD,
        is_admin=True,
        balance_cents=2500,
    )
    max_ = build.member(code="1000000002", balance_cents=1000, min_balance_cents=-500)
    build.member(code="1000000003", first_name="Kurt", locked=True, balance_cents=-300)
    build.token(max_, TOKEN_4, "Schlüsselanhänger")
    build.token(admin, TOKEN_7, "Handy")
    terminal_key = build.api_key()
    build.api_key(keys.SCOPE_ADMIN, client="Kasse")
    with database.session() as session:
        reversed_entry = ledger.book(session, max_.id, -250, "Falsch gebucht", ACTOR)
        ledger.reverse(session, reversed_entry.transaction_id, ACTOR)
        system_settings.update(session, ACTOR, default_amount_cents=-150)
        tokens.record_unknown_scan(session, bytes.fromhex("deadbeef"), "Theke")
        revoked, _ = keys.create_key(session, keys.find_client(session, "Kasse"), ACTOR)
        keys.revoke_key(session, revoked, ACTOR)
    answer = client.put(
        "/api/nfc-transaktion",
        json={"token": base64.b64encode(TOKEN_4).decode(), "beschreibung": "Theke"},
        headers={"X-API-Key": terminal_key, "Idempotency-Key": "tap-1"},
    )
    assert answer.status_code == 200, answer.json
    return {"key": terminal_key}


def _check_usable(url: str, secrets: dict[str, str]) -> None:
    """The restored copy works: password, key, ledger, and new rows get fresh ids."""
    database = Database(url, pool_size=1)
    try:
        with database.sessionmaker() as session:
            assert ledger.check(session) == []
            admin = members.get_by_code(session, "1000000001")
            assert members.check_password(admin, PASSWORD, TEST_HASH_METHOD)
            assert keys.authenticate(session, secrets["key"]) is not None
            # New rows must not collide with restored ids (PostgreSQL sequences were moved).
            newcomer = members.create(
                session, members.NewMember("Neu", "Mitglied", code="1000000099"), ACTOR
            )
            ledger.book(session, newcomer.id, 100, "Einzahlung", ACTOR)
            session.rollback()
    finally:
        database.dispose()


def _chain(backend: str) -> list[str]:
    """From SQLite through every configured server back to SQLite; from a server to SQLite."""
    if backend != "sqlite":
        return ["sqlite"]
    return [b for b in ("mysql", "postgresql") if b in BACKENDS] + ["sqlite"]


@pytest.mark.slow  # creates and migrates a database on every backend
def test_round_trip_through_every_backend_keeps_everything(
    fvh, filled, database_url, backend, new_database, tmp_path
):
    original = table_rows(database_url)
    assert original["transactions"] and original["idempotency_keys"]
    source = database_url
    for step, target_backend in enumerate(_chain(backend)):
        file = tmp_path / f"step-{step}.fvh.gz"
        assert "Backup written" in fvh("backup", str(file), database_url=source).output
        target = new_database(target_backend)
        assert "Ledger OK" in fvh("restore", str(file), database_url=target).output
        assert table_rows(target) == original, f"{backend} -> {target_backend}"
        _check_usable(target, filled)
        source = target


def test_backup_file_has_a_header_and_every_model_table(fvh, filled, database_url, tmp_path):
    file = tmp_path / "fvh.backup.gz"
    file.write_bytes(b"an older backup")
    fvh("backup", str(file))
    header = backup.read_header(file)
    assert [t.name for t in header.tables] == [t.name for t in Base.metadata.sorted_tables]
    counts = {t.name: t.rows for t in header.tables}
    assert counts["members"] == 3 and counts["tokens"] == 2
    assert header.revision and header.fvh_version and header.backend
    assert os.stat(file).st_mode & 0o077 == 0, "hashes inside: readable by the owner only"
    assert [p.name for p in tmp_path.iterdir()] == ["fvh.backup.gz"], "no temporary file left"
    with gzip.open(file, "rt", encoding="utf-8") as stream:
        lines = [json.loads(line) for line in stream]
    assert lines[0]["format"] == "fvh-backup"
    assert lines[-1] == {"end": True, "rows": header.total_rows}
    assert len(lines) == header.total_rows + 2


def test_backup_into_a_missing_directory_fails_cleanly(fvh, database, tmp_path):
    result = fvh("backup", str(tmp_path / "nope" / "x.gz"), ok=False)
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_restore_into_a_database_with_data_is_refused(fvh, filled, database_url, tmp_path):
    file = tmp_path / "fvh.gz"
    fvh("backup", str(file))
    before = table_rows(database_url)
    result = fvh("restore", str(file), ok=False)
    assert result.exit_code == 1
    assert "needs an empty database" in result.output and "members (3 rows)" in result.output
    assert table_rows(database_url) == before


def _damaged_variants(good: bytes) -> dict[str, bytes]:
    flipped = bytearray(good)
    middle = len(flipped) // 2
    flipped[middle] ^= 0xFF
    lines = gzip.decompress(good).splitlines(keepends=True)
    return {
        "truncated": good[: len(good) // 2],
        "flipped byte": bytes(flipped),
        "no end marker": gzip.compress(b"".join(lines[:-1])),
        "not gzip": b"members;1000000001;Erika\n",
        "empty": b"",
    }


def test_damaged_files_are_refused_before_anything_is_written(fvh, filled, tmp_path, new_database):
    good = tmp_path / "good.gz"
    fvh("backup", str(good))
    target = new_database("sqlite")
    for name, content in _damaged_variants(good.read_bytes()).items():
        damaged = tmp_path / f"{name.replace(' ', '-')}.gz"
        damaged.write_bytes(content)
        result = fvh("restore", str(damaged), database_url=target, ok=False)
        assert result.exit_code == 1, name
        assert "not a complete FVH backup" in result.output, (name, result.output)
        assert "Traceback" not in result.output
        database = Database(target, pool_size=1)
        try:
            with database.engine.connect() as conn:
                assert inspect(conn).get_table_names() == [], f"{name}: schema was created"
        finally:
            database.dispose()


def test_a_backup_from_a_newer_schema_is_refused(fvh, filled, tmp_path, new_database):
    good = tmp_path / "good.gz"
    fvh("backup", str(good))
    lines = gzip.decompress(good.read_bytes()).decode().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["alembic_revision"] = "9999_from_the_future"
    newer = tmp_path / "newer.gz"
    newer.write_bytes(gzip.compress((json.dumps(header) + "\n" + "".join(lines[1:])).encode()))
    result = fvh("restore", str(newer), database_url=new_database("sqlite"), ok=False)
    assert result.exit_code == 1
    assert "newer than this FVH" in result.output


def test_restore_into_a_migrated_empty_database(fvh, filled, tmp_path, database):
    """The usual target: schema present (e.g. `fvh db upgrade` then members deleted), no rows."""
    file = tmp_path / "fvh.gz"
    fvh("backup", str(file))
    with database.session() as session:
        wanted = session.scalar(select(func.count()).select_from(Transaction))
    empty_all_tables(database)
    fvh("restore", str(file))
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Transaction)) == wanted
        assert session.scalar(select(func.count()).select_from(Member)) == 3
        assert session.scalar(select(Transaction.reverses_id).where(Transaction.reverses_id > 0))


def test_the_backup_reads_one_snapshot_while_others_write(build, database):
    """Rows committed while a backup runs are not half in it: it reads one consistent state."""
    build.member(code="1000000001")
    members_table = Member.__table__
    with backup.snapshot.consistent_read(database.engine) as conn:
        count = select(func.count()).select_from(members_table)
        assert conn.scalar(count) == 1
        build.member(code="1000000002", balance_cents=500)
        assert conn.scalar(count) == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 2


# --- a fresh installation as the target ---------------------------------------------------


def _fresh_installation(fvh, database) -> None:
    """A database as a new machine has it: `fvh db upgrade` made the bootstrap admin."""
    empty_all_tables(database)
    assert "9999999999" in fvh("db", "upgrade").output


def test_restore_into_a_fresh_installation(fvh, filled, tmp_path, database, database_url):
    """Disaster recovery: new machine, install (the service runs `fvh db upgrade`), restore.
    The untouched bootstrap admin gives way to the backup's members."""
    file = tmp_path / "fvh.gz"
    fvh("backup", str(file))
    wanted = table_rows(database_url)
    _fresh_installation(fvh, database)
    result = fvh("restore", str(file))
    assert "Traceback" not in result.output
    assert table_rows(database_url) == wanted
    with database.session() as session:
        codes = set(session.scalars(select(Member.code)))
    assert codes == {"1000000001", "1000000002", "1000000003"}
    _check_usable(database_url, filled)


def _log_in_and_change_password(session) -> None:
    admin = members.get_by_code(session, members.BOOTSTRAP_ADMIN_CODE)
    members.set_password(session, admin, "ein-neues-passwort", ACTOR)


def _rename(session) -> None:
    members.get_by_code(session, members.BOOTSTRAP_ADMIN_CODE).first_name = "Chefin"


def _book(session) -> None:
    admin = members.get_by_code(session, members.BOOTSTRAP_ADMIN_CODE)
    ledger.book(session, admin.id, 500, "Einzahlung", ACTOR)


def _second_member(session) -> None:
    members.create(session, members.NewMember("Neu", "Mitglied", code="1000000099"), ACTOR)


def _change_a_setting(session) -> None:
    system_settings.update(session, ACTOR, default_amount_cents=-150)


USED_INSTALLATIONS = {
    "password changed": _log_in_and_change_password,
    "admin renamed": _rename,
    "a booking": _book,
    "a second member": _second_member,
    "a setting changed": _change_a_setting,
}


@pytest.mark.parametrize("use", list(USED_INSTALLATIONS))
def test_restore_refuses_an_installation_in_use(fvh, filled, tmp_path, database, database_url, use):
    file = tmp_path / "fvh.gz"
    fvh("backup", str(file))
    _fresh_installation(fvh, database)
    with database.session() as session:
        USED_INSTALLATIONS[use](session)
        session.commit()
    before = table_rows(database_url)
    result = fvh("restore", str(file), ok=False)
    assert result.exit_code == 1, result.output
    assert "needs an empty database" in result.output
    assert table_rows(database_url) == before


# --- temp files of killed backups ---------------------------------------------------------

# Writes a backup file and stays in the middle of it until killed.
WRITING = """
import sys, time
from pathlib import Path
from fvh.ops.backup.fileformat import atomic_text_file
with atomic_text_file(Path(sys.argv[1])) as stream:
    stream.write("x" * 100_000)
    stream.flush()
    print("writing", flush=True)
    time.sleep(600)
"""


def _writing_backup(path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITING, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "writing"
    return process


def _temp_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _age(folder, seconds: float) -> None:
    """Date the temp files back, as if the backup had died that long ago."""
    then = time.time() - seconds
    for name in _temp_files(folder):
        os.utime(folder / name, (then, then))


def test_the_next_backup_removes_a_killed_backups_temp_file(fvh, database, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    killed = _writing_backup(folder / "fvh-monday.gz")
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=10)
    [left] = _temp_files(folder)
    assert left.startswith(".fvh-monday.gz.")
    unrelated = folder / ".notizen.abcdefgh.tmp"  # not a backup's: not gzip
    unrelated.write_text("Einkaufsliste")
    _age(folder, fileformat.STALE_AFTER_SECONDS + 60)
    fvh("backup", str(folder / "fvh-tuesday.gz"))
    assert _temp_files(folder) == [unrelated.name]
    assert backup.verify(folder / "fvh-tuesday.gz").total_rows >= 0
    assert not (folder / "fvh-monday.gz").exists()


def test_a_running_backups_temp_file_is_left_alone(fvh, database, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    running = _writing_backup(folder / "fvh-slow.gz")
    try:
        [writing] = _temp_files(folder)
        _age(folder, fileformat.STALE_AFTER_SECONDS + 60)  # even an old one, while locked
        fvh("backup", str(folder / "fvh-quick.gz"))
        assert _temp_files(folder) == [writing]
        assert (folder / "fvh-quick.gz").exists()
        # a temp file of a killed backup that died a moment ago might be a starting one
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=10)
        os.utime(folder / writing)
        assert fileformat.remove_stale_temp_files(folder) == []
    finally:
        running.kill()
        running.communicate(timeout=10)


def test_an_older_backup_restores_into_a_fresh_installation_of_a_newer_fvh(
    fvh, tmp_path, new_database, backend
):
    """The new machine runs a newer FVH than the one that wrote the backup: its fresh schema
    is newer than the backup's, and only the untouched bootstrap admin is in it."""
    old = new_database("sqlite")
    old_database = Database(old, pool_size=1)
    try:
        known = backup.revisions.known_revisions(old_database.engine)
        migrate.upgrade(old_database.engine, known[-2])
    finally:
        old_database.dispose()
    file = tmp_path / "old.gz"
    fvh("backup", str(file), database_url=old)
    assert backup.read_header(file).revision == known[-2]
    target = new_database(backend)
    fvh("db", "upgrade", database_url=target)
    result = fvh("restore", str(file), database_url=target)
    assert "Traceback" not in result.output
    restored = Database(target, pool_size=1)
    try:
        assert migrate.current_revision(restored.engine) == known[-1]
        with restored.sessionmaker() as session:
            assert session.scalar(select(func.count()).select_from(Member)) == 0
    finally:
        restored.dispose()
