"""Test fixtures: the same tests run on SQLite and, when configured, MariaDB and PostgreSQL.

FVH_TEST_MYSQL_URL / FVH_TEST_POSTGRES_URL name a server (and a database to connect to for
administration); each test session creates its own database there, migrates it once, and
drops it at the end. A configured server that cannot be reached is an error, never a skip.
Each xdist worker has its own databases (a name with the worker's id on a server, a file in
the worker's tmp directory for SQLite).

Per backend and worker there is one `Database` (engine and connection pool) for the whole
session: every test's `app` is built fresh from the test's configuration but is handed that
Database instead of opening its own engine. Tests see committed data only (other processes,
threads and gunicorn workers take part in some), so isolation is not a rolled-back outer
transaction: after each test the ledger is checked and every table is emptied in one
transaction. The apps share one in-memory cache of compiled templates, too (Jinja's
bytecode cache: the same templates, compiled once per session instead of once per test).
Tests that build their own apps (other configuration, other mode) open their own engines.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fvh.core import ledger, passwords
from fvh.db import Database, migrate
from fvh.db.models import Base
from fvh.http.context import database as get_database
from tests.builders import Builder

TEST_HASH_METHOD = "pbkdf2:sha256:1000"  # cheap hashing keeps the suite fast
BACKENDS = ["sqlite"]
if os.environ.get("FVH_TEST_MYSQL_URL"):
    BACKENDS.append("mysql")
if os.environ.get("FVH_TEST_POSTGRES_URL"):
    BACKENDS.append("postgresql")


def _unique_name(worker_id: str) -> str:
    return f"fvh_test_{worker_id}_{uuid.uuid4().hex[:8]}"


def create_server_database(backend: str, name: str) -> str:
    """Create database `name` on the configured server; return its SQLAlchemy URL."""
    env = "FVH_TEST_MYSQL_URL" if backend == "mysql" else "FVH_TEST_POSTGRES_URL"
    server = make_url(os.environ[env])
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "mysql":
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        else:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_server_database(backend: str, name: str) -> None:
    env = "FVH_TEST_MYSQL_URL" if backend == "mysql" else "FVH_TEST_POSTGRES_URL"
    admin = create_engine(make_url(os.environ[env]), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "mysql":
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        else:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[str]:
    """A migrated, empty database of one backend for this test session."""
    backend: str = request.param
    name = _unique_name(worker_id)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fvh.sqlite3'}"
    else:
        url = create_server_database(backend, name)
    database = Database(url)
    try:
        migrate.upgrade(database.engine)
    finally:
        database.dispose()
    yield url
    if backend != "sqlite":
        drop_server_database(backend, name)


@pytest.fixture(scope="session")
def session_database(database_url: str) -> Iterator[Database]:
    """The Database (engine, pool, sessions) of this backend, shared by every test's `app`."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def empty_all_tables(database: Database) -> None:
    """Delete every row, children first, in one transaction (ids are not reset: no test
    relies on them, as on the servers' sequences they never were)."""
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> dict[str, object]:
    return {
        "DATABASE_URL": database_url,
        "APP_SECRET": "test-secret-" + uuid.uuid4().hex,
        "PASSWORD_HASH_METHOD": TEST_HASH_METHOD,
        "DATA_DIR": str(tmp_path),
        "TESTING": True,
    }


class SharedTemplates(BytecodeCache):
    """Compiled templates in memory, for every app of the session (keyed by name and source)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # ignored if the source changed (checksum)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


SHARED_TEMPLATES = SharedTemplates()


@pytest.fixture
def app(
    config: dict[str, object],
    database_url: str,
    session_database: Database,
    request: pytest.FixtureRequest,
) -> Iterator[Flask]:
    """A fresh app of the test's configuration on the session's Database of its backend.

    After the test: the ledger must be consistent (unless marked `corrupts_ledger`), then
    every table is emptied.
    """
    from fvh.app import create_app

    shared = session_database if config["DATABASE_URL"] == database_url else None
    application = create_app(config, database=shared)
    application.jinja_env.bytecode_cache = SHARED_TEMPLATES
    database = get_database(application)
    yield application
    try:
        if not request.node.get_closest_marker("corrupts_ledger"):
            with database.session() as session:
                assert ledger.check(session) == [], "ledger inconsistent after the test"
    finally:
        empty_all_tables(database)
        if database is not shared:
            database.dispose()


@pytest.fixture
def database(app) -> Database:
    with app.app_context():
        return get_database()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def build(database: Database) -> Builder:
    """Helpers that create members, tokens and keys through the domain core."""
    return Builder(database)


@pytest.fixture(autouse=True)
def _cheap_password_hashing() -> None:
    """Every test starts with the cheap hash method (the app factory and the CLI set theirs)."""
    passwords.configure(TEST_HASH_METHOD)


ALLOWED_SMTP: set[tuple[str, int]] = set()


@pytest.fixture(autouse=True)
def disallow_unexpected_smtp(monkeypatch: pytest.MonkeyPatch):
    """Fail any test that opens an SMTP connection no fixture has allowed."""
    import smtplib

    real_connect = smtplib.SMTP.connect

    def guarded_connect(self, host="localhost", port=0, source_address=None):
        if (host, int(port)) not in ALLOWED_SMTP:
            pytest.fail(f"unexpected SMTP connection to {host}:{port}")
        return real_connect(self, host, port, source_address)

    monkeypatch.setattr(smtplib.SMTP, "connect", guarded_connect)
    yield
    ALLOWED_SMTP.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "corrupts_ledger: the test breaks the ledger on purpose")
