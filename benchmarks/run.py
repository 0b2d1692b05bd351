"""Terminal-tap benchmark: FVH under gunicorn against an empty Flask endpoint served the same way.

For each backend a fresh database is created and migrated, then seeded with N members, each
with an NFC token, and M past transactions spread over them (balances consistent with the
journal). A real `fvh serve api` (gunicorn) is started; C client threads drive
`PUT /nfc-transaktion` for a fixed time, each request on a new HTTP connection as terminals
do. Printed per run: taps/s, p50, p99, errors, and whether every balance moved by exactly the
booked amount. Also the latency of `GET /saldo-alle` and `GET /person/<code>`.

    python benchmarks/run.py [--members 200] [--transactions 1000000] [--clients 1,8,32]
                             [--seconds 10] [--backends sqlite,mysql]

MariaDB/PostgreSQL need FVH_BENCH_MYSQL_URL / FVH_BENCH_POSTGRES_URL (or FVH_TEST_*): a server
URL on which a scratch database is created and dropped. `make bench` runs the defaults.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import make_url

os.environ.setdefault("LOG_LEVEL", "WARNING")  # the figures, not the migration log

from fvh.core import audit, keys, ledger
from fvh.db import Database, migrate
from fvh.db.models import Member, Token, Transaction, utcnow

ROOT = Path(__file__).resolve().parents[1]
ACTOR = audit.Actor.system("bench")
SECRET = "benchmark-secret-" + uuid.uuid4().hex
START_BALANCE_CENTS = 1_000_000_00
CHUNK = 20_000


# --- database ---------------------------------------------------------------------------------


def _server_url(backend: str) -> str | None:
    name = "MYSQL" if backend == "mysql" else "POSTGRES"
    return os.environ.get(f"FVH_BENCH_{name}_URL") or os.environ.get(f"FVH_TEST_{name}_URL")


@contextmanager
def scratch_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    server = make_url(_server_url(backend))
    name = f"fvh_bench_{uuid.uuid4().hex[:8]}"
    quote = "`" if backend == "mysql" else '"'
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        force = "" if backend == "mysql" else " WITH (FORCE)"
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


def seed(url: str, members: int, transactions: int) -> tuple[str, list[tuple[str, bytes]]]:
    """Members with tokens and history; returns the terminal key and (code, token) pairs."""
    database = Database(url)
    migrate.upgrade(database.engine)
    rng = random.Random(7)
    people = [(f"{1_000_000_000 + i:010d}", rng.randbytes(7)) for i in range(members)]
    with database.session() as session:
        session.execute(
            insert(Member),
            [
                {
                    "code": code,
                    "first_name": f"Vorname{i}",
                    "last_name": f"Name{i}",
                    "comment": "",
                    "locked": False,
                    "is_admin": False,
                    "must_change_password": False,
                    "balance_cents": 0,
                    "session_version": 1,
                    "notify_bookings": False,
                    "notify_zero": False,
                    "notify_low_balance": False,
                    "approval_pending": False,
                }
                for i, (code, _token) in enumerate(people)
            ],
        )
        ids = dict(session.execute(select(Member.code, Member.id)).all())
        session.execute(
            insert(Token),
            [{"member_id": ids[code], "data": data, "name": "Chip"} for code, data in people],
        )
        client = keys.create_client(session, "Bench", ACTOR)
        _row, key = keys.create_key(session, client, ACTOR)
    totals: Counter[int] = Counter()
    start = utcnow() - timedelta(days=365 * 3)
    member_ids = list(ids.values())
    for offset in range(0, transactions, CHUNK):
        rows = []
        for n in range(offset, min(offset + CHUNK, transactions)):
            member_id = member_ids[n % len(member_ids)]
            amount = -100 if n % 20 else 2000
            totals[member_id] += amount
            rows.append(
                {
                    "member_id": member_id,
                    "amount_cents": amount,
                    "description": "Kasse" if amount < 0 else "Einzahlung",
                    "created_at": start + timedelta(seconds=n * 90),
                    "booked_by_kind": "system",
                    "booked_by_label": "Seed",
                }
            )
        with database.session() as session:
            session.execute(insert(Transaction), rows)
    with database.session() as session:
        for member_id in member_ids:  # history plus plenty of credit, all through the journal
            session.execute(
                update(Member).where(Member.id == member_id).values(balance_cents=totals[member_id])
            )
            ledger.book(session, member_id, START_BALANCE_CENTS, "Startguthaben", ACTOR)
        assert ledger.check(session) == []
    database.dispose()
    return key, people


def settle(url: str, limit_seconds: float = 90) -> float:
    """Wait until the database has written the seeded history back; seconds waited.

    A station's history grew over years: its tap competes with no bulk load. Right after
    seeding, MariaDB still flushes the new pages to disk for half a minute or more (at its
    default I/O capacity), and commits that share the disk wait longer meanwhile, so the
    figures would depend on when they were taken. PostgreSQL and SQLite checkpoint.
    """
    started = time.monotonic()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        backend = engine.dialect.name
        if backend == "postgresql":
            conn.execute(text("CHECKPOINT"))
        elif backend == "sqlite":
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            dirty_pages = text("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            previous = None
            while time.monotonic() - started < limit_seconds:
                dirty = int(conn.execute(dirty_pages).one()[1])
                if dirty == 0 or dirty == previous:  # written back, or only others' pages
                    break
                previous = dirty
                time.sleep(2)
    engine.dispose()
    return time.monotonic() - started


def balances(url: str) -> dict[str, int]:
    database = Database(url)
    with database.session() as session:
        result = dict(session.execute(select(Member.code, Member.balance_cents)).all())
    database.dispose()
    return result


# --- servers ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(command: list[str], env: dict[str, str], health: str) -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)]
        if command[-1] != "BASELINE"
        else [sys.executable, str(ROOT / "benchmarks" / "baseline.py"), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _request(port, "GET", health, None, {})
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"server on {port} did not come up") from None
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _request(port: int, method: str, path: str, body: bytes | None, headers: dict) -> tuple:
    """One request on a new connection, as a terminal makes it: (status, body, seconds).

    Plain sockets rather than http.client: the load generator shares the two cores with the
    server, so it should spend as little of them as it can. The server closes the connection
    after its answer (`Connection: close`), which ends the read.
    """
    body = body or b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    latency = time.perf_counter() - started
    head, _, data = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head[9:12]), data, latency


def drive(
    clients: int, seconds: float, make_request: Callable[[random.Random], tuple]
) -> tuple[list[float], int, list]:
    """C client processes for a fixed time; latencies (s), errors, and what each returned.

    Processes, not threads: client threads would queue for one interpreter lock and add
    that wait to the latencies they measure.
    """
    context = multiprocessing.get_context("fork")  # the request function is a closure
    results = context.Queue()
    stop_at = time.time() + seconds

    def client(seed_: int) -> None:
        rng = random.Random(seed_)
        latencies, returned, errors = [], [], 0
        while time.time() < stop_at:
            try:
                ok, latency, result = make_request(rng)
            except (OSError, ValueError):
                ok, latency, result = False, 0.0, None
            latencies.append(latency)
            returned.append(result)
            errors += 0 if ok else 1
        results.put((latencies, errors, returned))

    processes = [context.Process(target=client, args=(i,)) for i in range(clients)]
    for process in processes:
        process.start()
    latencies: list[float] = []
    returned: list = []
    errors = 0
    for _ in processes:
        mine, mine_errors, mine_returned = results.get()
        latencies.extend(mine)
        returned.extend(mine_returned)
        errors += mine_errors
    for process in processes:
        process.join()
    return latencies, errors, returned


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def line(label: str, latencies: list[float], errors: int, seconds: float, extra: str = "") -> str:
    return (
        f"  {label:<34} {len(latencies) / seconds:7.0f} req/s  p50 {_ms(latencies, 0.5):6.2f} ms"
        f"  p99 {_ms(latencies, 0.99):7.2f} ms  errors {errors}{extra}"
    )


# --- the benchmark ----------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir, scratch_database(backend, Path(workdir)) as url:
        t0 = time.perf_counter()
        key, people = seed(url, args.members, args.transactions)
        seeded = time.perf_counter() - t0
        print(
            f"[{backend}] seeded {args.members} members, {args.transactions} transactions"
            f" in {seeded:.0f} s, written back in {settle(url):.0f} s"
        )
        env = {**os.environ, "DATABASE_URL": url, "APP_SECRET": SECRET, "DATA_DIR": workdir}
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        # What each member's chip sends, encoded once: a terminal's request is always the same.
        bodies = [
            (
                code,
                json.dumps(
                    {"token": base64.b64encode(data).decode(), "beschreibung": "Bench"}
                ).encode(),
            )
            for code, data in people
        ]
        with server([sys.executable, "-m", "fvh", "serve", "api"], env, "/health") as port:
            for clients in args.clients:
                before = balances(url)

                def tap(rng: random.Random) -> tuple:
                    code, body = rng.choice(bodies)
                    status, raw, latency = _request(port, "PUT", "/nfc-transaktion", body, headers)
                    ok = status == 200 and "saldo" in json.loads(raw)
                    return ok, latency, code if ok else None

                latencies, errors, booked = drive(clients, args.seconds, tap)
                after = balances(url)
                moved = Counter(code for code in booked if code)
                mismatches = sum(
                    1 for code in after if after[code] - before[code] != -100 * moved[code]
                )
                print(
                    line(
                        f"PUT /nfc-transaktion C={clients}",
                        latencies,
                        errors,
                        args.seconds,
                        f"  balance mismatches {mismatches}",
                    )
                )
            for path in ("/saldo-alle", f"/person/{people[0][0]}"):

                def get(_rng: random.Random, path: str = path) -> tuple:
                    status, _raw, latency = _request(port, "GET", path, None, headers)
                    return status == 200, latency, None

                latencies, errors, _ = drive(1, min(args.seconds, 5), get)
                print(
                    line(f"GET {path.split('/')[1]} C=1", latencies, errors, min(args.seconds, 5))
                )
        database = Database(url)
        with database.session() as session:
            print(f"  ledger check: {'OK' if not ledger.check(session) else 'MISMATCH'}")
        database.dispose()


def bench_baseline(args: argparse.Namespace) -> None:
    print("[baseline] empty Flask JSON endpoint, same gunicorn settings")
    with server(["BASELINE"], dict(os.environ), "/") as port:
        for clients in args.clients:

            def ping(_rng: random.Random) -> tuple:
                status, _raw, latency = _request(port, "PUT", "/", b"{}", {})
                return status == 200, latency, None

            latencies, errors, _ = drive(clients, args.seconds, ping)
            print(line(f"PUT / C={clients}", latencies, errors, args.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--backends", default="sqlite,mysql")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    wanted = [b for b in args.backends.split(",") if b]
    print(
        f"FVH benchmark · {time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} CPUs · "
        f"{args.seconds:g} s per run"
    )
    bench_baseline(args)
    for backend in wanted:
        if backend != "sqlite" and not _server_url(backend):
            print(f"[{backend}] skipped: no FVH_BENCH_/FVH_TEST_ server URL")
            continue
        bench_backend(backend, args)


if __name__ == "__main__":
    main()
