"""Taps on a 3-node Galera cluster against the single MariaDB server, at the same concurrency.

Both runs serve the API the same way: three `fvh serve api` (gunicorn, 2 workers each). In
the first all three use one scratch database on the shared MariaDB (FVH_BENCH_MYSQL_URL or
FVH_TEST_MYSQL_URL); in the second each uses its own node of a 3-node Galera cluster on
127.0.0.1, started for the run by the test harness (tests/cluster/galera.py) and removed
afterwards. C client threads, thread i on server i % 3, tap by NFC token
(`PUT /nfc-transaktion`, a new connection per request as terminals do) on random members of
N for S seconds. Printed per run: taps/s, p50, p99, 5xx and the server-side booking retries
per 1,000 taps (`fvh_booking_retries_total` from /metrics).

    python benchmarks/galera.py [--clients 6] [--seconds 10] [--members 50] [--flush 1]

`--flush` is the nodes' innodb_flush_log_at_trx_commit (1, as the single server, by default;
2 is the usual Galera setting, where a commit is safe on the other nodes). About a minute.
"""

from __future__ import annotations

import argparse
import base64
import os
import queue
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

os.environ.setdefault("LOG_LEVEL", "WARNING")

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.builders import Builder  # noqa: E402
from tests.cluster import galera  # noqa: E402
from tests.cluster.servers import (  # noqa: E402
    Server,
    Tally,
    fvh,
    server_environment,
    start_all,
    tap_by_token,
    total_retries,
)

from fvh.core import keys  # noqa: E402
from fvh.db import Database  # noqa: E402

DATABASE = "fvh_bench_galera"
SERVERS = 3


@dataclass(frozen=True)
class Figures:
    label: str
    taps: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_errors: int
    unanswered: int
    retries: float | None

    def line(self) -> str:
        retries = (
            "n/a" if self.retries is None else f"{1000 * self.retries / max(self.taps, 1):.1f}"
        )
        return (
            f"{self.label:<16} {self.taps / self.seconds:8.1f} {self.p50_ms:8.0f} "
            f"{self.p99_ms:8.0f} {self.server_errors:6d} {self.unanswered:6d} {retries:>12}"
        )


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the shared server for this run, dropped afterwards."""
    name = f"{DATABASE}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@dataclass(frozen=True)
class Prepared:
    """A migrated and seeded database behind `environments` (one server each)."""

    label: str
    environments: list[dict[str, str]]
    key: str
    tokens: list[str]


def prepare(
    label: str,
    urls: list[str],
    workdir: Path,
    members: int,
    settle: Callable[[], object] = lambda: None,
) -> Prepared:
    """Migrate and seed through urls[0]: a terminal key and `members` members with a token."""
    secret = "bench-" + uuid.uuid4().hex
    environments = [
        server_environment(url, workdir / f"{label}-{i}".replace(" ", "_"), secret)
        for i, url in enumerate(urls)
    ]
    fvh(environments[0], "db", "upgrade")
    database = Database(urls[0], pool_size=2)
    try:
        build = Builder(database)
        key = build.api_key(keys.SCOPE_TERMINAL, client="Benchmark")
        tokens = []
        for _ in range(members):
            member = build.member(balance_cents=1_000_000_00)
            token = secrets.token_bytes(7)
            build.token(member, token)
            tokens.append(base64.b64encode(token).decode())
    finally:
        database.dispose()
    settle()
    return Prepared(label, environments, key, tokens)


def measure(prepared: Prepared, clients: int, seconds: float) -> Figures:
    """Serve each environment, tap from `clients` threads for `seconds`."""
    ports = galera.free_ports(len(prepared.environments))
    servers = [
        Server(f"fvh{i + 1}", port, env, Path(env["DATA_DIR"]) / "server.log")
        for i, (port, env) in enumerate(zip(ports, prepared.environments, strict=True))
    ]
    try:
        start_all(servers)
        before = total_retries(servers)
        tally = Tally()
        deadline = time.monotonic() + seconds

        def client(server: Server, seed: int) -> None:
            rng = random.Random(seed)  # a load pattern, not a secret
            while time.monotonic() < deadline:
                tally.add(tap_by_token(server, prepared.key, rng.choice(prepared.tokens)))

        threads = [
            threading.Thread(target=client, args=(servers[i % len(servers)], i))
            for i in range(clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 30)
        elapsed = time.monotonic() - started
        after = total_retries(servers)
    finally:
        for server in servers:
            server.stop()
    return Figures(
        prepared.label,
        len(tally.answers),
        elapsed,
        tally.percentile(0.5) * 1000,
        tally.percentile(0.99) * 1000,
        len(tally.server_errors()),
        len(tally.unanswered()),
        None if after is None else after - (before or 0.0),
    )


def prepared_cluster(
    args: argparse.Namespace, workdir: Path, ready: queue.Queue, done: threading.Event
) -> None:
    """In a thread: start the cluster, prepare it, hand it over, keep it until `done`."""
    try:
        options = {"innodb_flush_log_at_trx_commit": args.flush}
        with galera.running_cluster(options=options) as cluster:
            admin = create_engine(cluster.nodes[0].url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4"))
            admin.dispose()
            urls = [node.url(DATABASE) for node in cluster.nodes]
            ready.put(
                prepare("3-node Galera", urls, workdir, args.members, cluster.wait_same_position)
            )
            done.wait(600)
    except BaseException as exc:  # handed to the main thread
        ready.put(exc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--flush", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args()
    reason = galera.unavailable()
    server_url = os.environ.get("FVH_BENCH_MYSQL_URL") or os.environ.get("FVH_TEST_MYSQL_URL")
    if reason or not server_url:
        print(reason or "set FVH_BENCH_MYSQL_URL (or FVH_TEST_MYSQL_URL)", file=sys.stderr)
        return 2
    started = time.monotonic()
    ready: queue.Queue = queue.Queue()
    done = threading.Event()
    with tempfile.TemporaryDirectory(prefix="fvh-bench-galera-") as scratch:
        workdir = Path(scratch)
        # Both setups at once (they take most of the time); the measurements one after the
        # other, with nothing else running.
        cluster_thread = threading.Thread(
            target=prepared_cluster, args=(args, workdir, ready, done)
        )
        cluster_thread.start()
        try:
            with scratch_database(server_url) as url:
                single = prepare("single MariaDB", [url] * SERVERS, workdir, args.members)
                clustered = ready.get(timeout=300)
                if isinstance(clustered, BaseException):
                    raise clustered
                results = [measure(single, args.clients, args.seconds)]
            results.append(measure(clustered, args.clients, args.seconds))
        finally:
            done.set()
            cluster_thread.join(120)
    print(
        f"\n{args.clients} clients, {args.seconds:.0f} s each, {args.members} members, "
        f"{SERVERS} servers x 2 workers; Galera innodb_flush_log_at_trx_commit={args.flush}"
    )
    print(
        f"{'':<16} {'taps/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'5xx':>6} {'no ans':>6} "
        f"{'retries/1000':>12}"
    )
    for figures in results:
        print(figures.line())
    print(f"(total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
