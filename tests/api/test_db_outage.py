"""An unreachable database is a 503 JSON error: never "invalid key", "not found" or a trace."""

from __future__ import annotations

import os
import time

import pytest

from fvh.app import create_app
from fvh.db import Database

# Port 1 refuses connections at once, so these tests stay fast.
UNREACHABLE = {
    "mariadb": "mysql+mysqlconnector://root@127.0.0.1:1/x",
    "postgresql": "postgresql+psycopg://u@127.0.0.1:1/x",
}
KEY = {"X-API-Key": "fvh_" + "k" * 43}
REQUESTS = [
    ("GET", "/api/health-protected", None),
    ("GET", "/api/version", None),
    ("GET", "/api/saldo-alle", None),
    ("GET", "/api/person/0123456789", None),
    ("PUT", "/api/person/0123456789/transaktion", {"beschreibung": "Kasse Theke"}),
    ("PUT", "/api/nfc-transaktion", {"token": "BKIrHA==", "beschreibung": "Kasse Theke"}),
    ("GET", "/api/users", None),
]
# What a driver error or a traceback would leak into the answer.
LEAKS = ["Traceback", 'File "', "sqlalchemy", "mysql", "psycopg", "127.0.0.1", "refused", "2003"]


@pytest.fixture(params=sorted(UNREACHABLE))
def outage_app(request, config):
    app = create_app({**config, "DATABASE_URL": UNREACHABLE[request.param]})
    yield app
    app.extensions["fvh_db"].dispose()


def test_database_outage_is_503_json(outage_app):
    client = outage_app.test_client()
    problems = []
    for method, path, body in REQUESTS:
        started = time.monotonic()
        response = client.open(path, method=method, json=body, headers=KEY)
        text = response.get_data(as_text=True)
        payload = response.get_json(silent=True)
        if time.monotonic() - started > 5:
            problems.append(f"{path}: took {time.monotonic() - started:.1f} s")
        if response.status_code != 503:
            problems.append(f"{path}: status {response.status_code} {text[:200]}")
        if not isinstance(payload, dict) or list(payload) != ["error"]:
            problems.append(f"{path}: not a JSON {{'error'}} object: {text[:200]}")
        elif not isinstance(payload["error"], str) or not payload["error"]:
            problems.append(f"{path}: empty error")
        problems += [f"{path}: leaks {leak!r}" for leak in LEAKS if leak.lower() in text.lower()]
    assert not problems, "\n".join(problems)


def test_health_and_missing_key_need_no_database(outage_app):
    """Terminals start while the database is down; a missing key is refused without it."""
    client = outage_app.test_client()
    health = client.get("/api/health")
    assert health.status_code == 200
    assert isinstance(health.get_json()["message"], str)
    no_key = client.get("/api/health-protected")
    assert no_key.status_code == 401
    assert list(no_key.get_json()) == ["error"]


@pytest.mark.skipif(not os.environ.get("FVH_TEST_MYSQL_URL"), reason="needs FVH_TEST_MYSQL_URL")
def test_mysql_connections_use_the_c_extension():
    """The pure-Python fallback of mysql-connector is several times slower per statement;
    a driver update whose C extension can't load here (as 26.x on Debian 12) must show."""
    from mysql.connector.connection_cext import CMySQLConnection

    database = Database(os.environ["FVH_TEST_MYSQL_URL"])
    try:
        with database.engine.connect() as conn:
            assert isinstance(conn.connection.dbapi_connection, CMySQLConnection)
    finally:
        database.dispose()


@pytest.mark.skipif(not os.environ.get("FVH_TEST_MYSQL_URL"), reason="needs FVH_TEST_MYSQL_URL")
def test_mysql_pool_rolls_back_only_open_transactions():
    """No ROLLBACK round trip for a connection whose work was committed; one that comes
    back with a transaction open is still rolled back (its write is gone, its locks too)."""
    from sqlalchemy import text

    database = Database(os.environ["FVH_TEST_MYSQL_URL"], pool_size=1)
    rollbacks = text("SHOW SESSION STATUS LIKE 'Com_rollback'")
    try:
        with database.engine.connect() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE pool_probe (n INT) ENGINE=InnoDB"))
            before = int(conn.execute(rollbacks).one()[1])
            conn.commit()
        for _ in range(3):  # committed work, then back to the pool
            with database.engine.connect() as conn:
                conn.execute(text("INSERT INTO pool_probe VALUES (1)"))
                conn.commit()
        raw = database.engine.raw_connection()  # DB-API work left open when returned
        cursor = raw.cursor()
        cursor.execute("INSERT INTO pool_probe VALUES (2)")
        cursor.close()
        raw.close()
        with database.engine.connect() as conn:  # the same pooled connection (pool of one)
            assert int(conn.execute(rollbacks).one()[1]) == before + 1
            assert conn.execute(text("SELECT n FROM pool_probe ORDER BY n")).all() == [
                (1,),
                (1,),
                (1,),
            ]
            conn.rollback()
    finally:
        database.dispose()


_SERVERS = {
    "mysql": ("FVH_TEST_MYSQL_URL", "SELECT CONNECTION_ID()", "KILL {}"),
    "postgresql": (
        "FVH_TEST_POSTGRES_URL",
        "SELECT pg_backend_pid()",
        "SELECT pg_terminate_backend({})",
    ),
}


@pytest.mark.parametrize(
    "server",
    [
        pytest.param(name, marks=pytest.mark.skipif(not os.environ.get(env), reason=f"needs {env}"))
        for name, (env, _, _) in _SERVERS.items()
    ],
)
def test_a_connection_the_server_dropped_is_replaced(server, monkeypatch):
    """An idle pooled connection is pinged before use and replaced unseen when dead; one
    used a moment ago is not pinged: its failure invalidates the pool, the next request works."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from fvh import db

    env, whoami, kill = _SERVERS[server]
    database = Database(os.environ[env], pool_size=1)
    killer = create_engine(os.environ[env], poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def pooled_connection_id() -> int:
        with database.engine.connect() as conn:
            found = conn.execute(text(whoami)).scalar_one()
            conn.rollback()
            return found

    def drop(connection_id: int) -> None:
        with killer.connect() as conn:
            conn.execute(text(kill.format(int(connection_id))))
        time.sleep(0.2)  # the server closes the socket

    try:
        first = pooled_connection_id()
        drop(first)
        monkeypatch.setattr(db.engine, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout "rested"
        second = pooled_connection_id()  # no error: pinged, found dead, connected anew
        assert second != first

        drop(second)
        monkeypatch.setattr(db.engine, "PING_AFTER_IDLE_SECONDS", 3600.0)  # "used a moment ago"
        with pytest.raises(DBAPIError) as failed:
            pooled_connection_id()
        assert failed.value.connection_invalidated
        assert pooled_connection_id() not in (first, second)
    finally:
        database.dispose()
        killer.dispose()
