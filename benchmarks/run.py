"""Tap throughput and latency of the terminal API, per database backend. Prints figures.

For each backend (SQLite always; MariaDB and PostgreSQL when FVH_BENCH_MYSQL_URL /
FVH_BENCH_POSTGRES_URL or the FVH_TEST_* variables name a server) a fresh database is created
and migrated, then:
  1. sequential NFC taps through the real WSGI app (test client, one thread);
  2. concurrent taps from THREADS threads on one account, through real gunicorn over HTTP.
Run with `make bench`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fvh import audit, create_app, keys, ledger, members, migrate, tokens
from fvh.db import Database

os.environ.setdefault("LOG_LEVEL", "WARNING")  # the figures, not the migration log
SEQUENTIAL_TAPS = int(os.environ.get("FVH_BENCH_TAPS", "1000"))
THREADS = 8
HTTP_TAPS = int(os.environ.get("FVH_BENCH_HTTP_TAPS", "800"))
TOKEN = b"\x04\xa2\x2b\x1c"
BENCH_SECRET = "benchmark-secret-" + uuid.uuid4().hex
ACTOR = audit.Actor.system("bench")


def _server_url(backend: str) -> str | None:
    name = "MYSQL" if backend == "mysql" else "POSTGRES"
    return os.environ.get(f"FVH_BENCH_{name}_URL") or os.environ.get(f"FVH_TEST_{name}_URL")


def _create_database(backend: str, workdir: Path) -> tuple[str, callable]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    server = make_url(_server_url(backend))
    name = f"fvh_bench_{uuid.uuid4().hex[:8]}"
    quote = "`" if backend == "mysql" else '"'
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))

    def drop() -> None:
        force = "" if backend == "mysql" else " WITH (FORCE)"
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def _prepare(url: str) -> str:
    database = Database(url)
    migrate.upgrade(database.engine)
    with database.session() as session:
        member = members.create(
            session, members.NewMember("Bench", "Mark", code="1234567890"), ACTOR
        )
        ledger.book(session, member.id, 10_000_000, "Startguthaben", ACTOR)
        tokens.add(session, member, TOKEN, "Chip", ACTOR)
        client = keys.create_client(session, "Bench", ACTOR)
        _row, key = keys.create_key(session, client, ACTOR)
    database.dispose()
    return key


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))]


def bench_in_process(url: str, key: str) -> str:
    app = create_app({"DATABASE_URL": url, "APP_SECRET": BENCH_SECRET}, mode="api")
    client = app.test_client()
    body = {"token": base64.b64encode(TOKEN).decode(), "beschreibung": "Bench"}
    headers = {"X-API-Key": key}
    latencies = []
    start = time.perf_counter()
    for _ in range(SEQUENTIAL_TAPS):
        t0 = time.perf_counter()
        response = client.put("/nfc-transaktion", json=body, headers=headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.get_json()
    elapsed = time.perf_counter() - start
    app.extensions["fvh_db"].dispose()
    return (
        f"{SEQUENTIAL_TAPS} sequential taps (WSGI, 1 thread):"
        f" {SEQUENTIAL_TAPS / elapsed:7.0f} taps/s,"
        f" p50 {statistics.median(latencies):.2f} ms, p95 {_percentile(latencies, 0.95):.2f} ms"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_http(url: str, key: str) -> str:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "APP_SECRET": BENCH_SECRET, "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "fvh", "serve", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        body = json.dumps({"token": base64.b64encode(TOKEN).decode(), "beschreibung": "Bench"})

        def tap(_i: int) -> float:
            request = urllib.request.Request(
                f"{base}/nfc-transaktion",
                data=body.encode(),
                method="PUT",
                headers={"X-API-Key": key, "Content-Type": "application/json"},
            )
            t0 = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            return (time.perf_counter() - t0) * 1000

        start = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            latencies = list(pool.map(tap, range(HTTP_TAPS)))
        elapsed = time.perf_counter() - start
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return (
        f"{HTTP_TAPS} concurrent taps (gunicorn, {THREADS} clients, one account):"
        f" {HTTP_TAPS / elapsed:7.0f} taps/s, p50 {statistics.median(latencies):.1f} ms,"
        f" p95 {_percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
    )


def main() -> None:
    backends = ["sqlite"] + [b for b in ("mysql", "postgresql") if _server_url(b)]
    print(f"FVH benchmark · {time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} CPUs")
    for backend in backends:
        with tempfile.TemporaryDirectory() as workdir:
            url, drop = _create_database(backend, Path(workdir))
            try:
                key = _prepare(url)
                print(f"[{backend}]")
                print("  " + bench_in_process(url, key))
                print("  " + bench_http(url, key))
                database = Database(url)
                with database.session() as session:
                    assert ledger.check(session) == [], "ledger inconsistent after benchmark"
                database.dispose()
                print("  ledger check: OK")
            finally:
                drop()


if __name__ == "__main__":
    main()
