"""Terminal taps beside member statement downloads, served as in production (issue 14).

For each backend a fresh database gets a terminal key, a member with an NFC chip who taps,
and members who each have 5,000 bookings. `fvh serve` (GUI and API in one gunicorn, its
default workers) is started. One terminal taps `PUT /api/nfc-transaktion` every 50 ms,
first alone, then while two clients download statements without a pause: one the PDF of
the heaviest period allowed (20 days, 1,920 entries, below the PDF limit), one the CSV of
all 5,000 entries. A download client that hits the per-member download limit (429) goes on
as the next member: the downloads never pause, which is more than one member may do. One
statement renders at a time (fvh.web.heavy): a client told 503 tries again after 0.05 s,
one served after 0.3 s.
Printed: the taps' count, p50, p99, worst and errors, alone and beside the downloads, and
what the downloads did.

    python benchmarks/downloads.py [--bookings 5000] [--seconds 20] [--members-per-client 8]
                                   [--backends sqlite,mysql,postgresql]

MariaDB/PostgreSQL need FVH_BENCH_MYSQL_URL / FVH_BENCH_POSTGRES_URL (or FVH_TEST_*), as in
run.py. `make bench` runs the defaults.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # this folder's served benchmark: scratch databases, servers, figures

from fvh.core import keys, ledger, members, tokens
from fvh.db import Database, migrate
from fvh.db.models import Member, Transaction

PASSWORD = "benchmark-passwort-42"
TOKEN = b"\x04\x42\x42\x42"
TAPPER = "3999999999"
# Local midnight of 2025-01-01 in Europe/Berlin (UTC+1 until the end of March), as stored.
FIRST_BOOKING = datetime(2024, 12, 31, 23, 0)
BOOKING_EVERY = timedelta(minutes=15)  # 96 a day
PDF_PERIOD = "from=2025-01-01&to=2025-01-20"  # 20 days: 1,920 entries
TAP_PAUSE = 0.05
PAUSE = 0.3  # after a client's download
BUSY_PAUSE = 0.05  # after a 503
_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def seed(url: str, bookings: int, downloaders: int) -> tuple[str, list[str]]:
    """The terminal key and the codes of the downloading members (each with `bookings`)."""
    database = Database(url)
    migrate.upgrade(database.engine)
    codes = [f"{4_000_000_000 + i:010d}" for i in range(downloaders)]
    with database.session() as session:
        tapper = members.create(
            session,
            members.NewMember(code=TAPPER, first_name="Theke", last_name="Terminal"),
            bench.ACTOR,
        )
        tokens.add(session, tapper, TOKEN, "Chip", bench.ACTOR)
        ledger.book(session, tapper.id, bench.START_BALANCE_CENTS, "Startguthaben", bench.ACTOR)
        client = keys.create_client(session, "Theke", bench.ACTOR)
        _row, key = keys.create_key(session, client, bench.ACTOR)
        for n, code in enumerate(codes):
            members.create(
                session,
                members.NewMember(
                    code=code, first_name=f"Vorname{n}", last_name="Download", password=PASSWORD
                ),
                bench.ACTOR,
            )
    for code in codes:
        with database.session() as session:
            member_id = session.scalar(select(Member.id).where(Member.code == code))
            session.execute(
                insert(Transaction),
                [
                    {
                        "member_id": member_id,
                        "amount_cents": 100,
                        "description": "Einzahlung",
                        "created_at": FIRST_BOOKING + n * BOOKING_EVERY,
                        "booked_by_kind": "system",
                        "booked_by_label": "Seed",
                    }
                    for n in range(bookings)
                ],
            )
            session.execute(
                update(Member).where(Member.id == member_id).values(balance_cents=100 * bookings)
            )
    with database.session() as session:
        assert ledger.check(session) == []
    database.dispose()
    return key, codes


def login(base: str, code: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=60)
    token = _CSRF_RE.search(page.text)
    assert token, "no csrf_token on /login"
    data = {"csrf_token": token.group(1), "identifier": code, "password": PASSWORD}
    answer = browser.post(f"{base}/login", data=data, allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.status_code
    return browser


def download(path: str, sessions: list, stop_at: float, results: multiprocessing.Queue) -> None:
    """Download `path` again and again until `stop_at`, as the next member after a 429
    (a 503: the other download holds the server's one slot)."""
    current, seconds, refused, busy, errors = 0, [], 0, 0, 0
    while time.time() < stop_at:
        started = time.perf_counter()
        try:
            answer = sessions[current % len(sessions)].get(path, timeout=120)
            status = answer.status_code
        except requests.RequestException:
            status = 0
        if status == 200 and len(answer.content) > 10_000:
            seconds.append(time.perf_counter() - started)
        elif status == 429:
            refused += 1
            current += 1
        elif status == 503:
            busy += 1
        else:
            errors += 1
        # Told to wait, try again soon; served, leave the other client a moment to take
        # the slot.
        time.sleep(BUSY_PAUSE if status == 503 else PAUSE)
    results.put((path, seconds, refused, busy, errors))


def tap_for(port: int, key: str, seconds: float) -> tuple[list[float], int]:
    """One terminal tapping every TAP_PAUSE for `seconds`: latencies and failed taps."""
    body = json.dumps({"token": base64.b64encode(TOKEN).decode(), "beschreibung": "Theke"}).encode()
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    latencies, errors = [], 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        try:
            status, raw, latency = bench._request(
                port, "PUT", "/api/nfc-transaktion", body, headers
            )
            ok = status == 200 and "saldo" in json.loads(raw)
        except (OSError, ValueError):
            ok, latency = False, 10.0
        latencies.append(latency)
        errors += 0 if ok else 1
        time.sleep(TAP_PAUSE)
    return latencies, errors


def taps_line(label: str, latencies: list[float], errors: int) -> str:
    return (
        f"  {label:<30} {len(latencies):5d} taps  p50 {bench._ms(latencies, 0.5):7.1f} ms"
        f"  p99 {bench._ms(latencies, 0.99):7.1f} ms  worst {1000 * max(latencies):7.1f} ms"
        f"  errors {errors}"
    )


def bench_backend(backend: str, args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as workdir,
        bench.scratch_database(backend, Path(workdir)) as url,
    ):
        t0 = time.perf_counter()
        key, codes = seed(url, args.bookings, 2 * args.members_per_client)
        print(
            f"[{backend}] seeded {len(codes)} members with {args.bookings} bookings each"
            f" in {time.perf_counter() - t0:.0f} s, written back in {bench.settle(url):.0f} s"
        )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "APP_SECRET": bench.SECRET,
            "DATA_DIR": workdir,
            "LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "fvh", "serve"]
        with bench.server(command, env, "/login") as port:
            base = f"http://127.0.0.1:{port}"
            sessions = [login(base, code) for code in codes]  # before: a login hashes
            alone, alone_errors = tap_for(port, key, args.seconds / 2)
            print(taps_line("taps alone", alone, alone_errors))
            context = multiprocessing.get_context("fork")
            results = context.Queue()
            stop_at = time.time() + args.seconds + 2
            half = args.members_per_client
            clients = [
                context.Process(target=download, args=(path, group, stop_at, results))
                for path, group in (
                    (f"{base}/me/statement.pdf?{PDF_PERIOD}", sessions[:half]),
                    (f"{base}/me/statement.csv", sessions[half:]),
                )
            ]
            for client in clients:
                client.start()
            time.sleep(1)  # both downloads under way
            beside, beside_errors = tap_for(port, key, args.seconds)
            downloads = [results.get() for _ in clients]
            for client in clients:
                client.join()
        print(taps_line("taps beside 2 downloads", beside, beside_errors))
        for path, seconds, refused, busy, errors in sorted(downloads):
            kind = "PDF 1,920 entries" if ".pdf" in path else f"CSV {args.bookings:,} entries"
            each = sum(seconds) / len(seconds) if seconds else 0.0
            print(
                f"    downloads {kind:<18} {len(seconds):4d} served, {each:5.2f} s each,"
                f" {busy} busy (503), {refused} over the member limit (429), {errors} errors"
            )
        database = Database(url)
        with database.session() as session:
            print(f"  ledger check: {'OK' if not ledger.check(session) else 'MISMATCH'}")
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--members-per-client", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,mysql,postgresql")
    args = parser.parse_args()
    print(
        f"FVH taps beside statement downloads · {time.strftime('%Y-%m-%d %H:%M')} · "
        f"{os.cpu_count()} CPUs · {args.seconds:g} s"
    )
    for backend in [b for b in args.backends.split(",") if b]:
        if backend != "sqlite" and not bench._server_url(backend):
            print(f"[{backend}] skipped: no FVH_BENCH_/FVH_TEST_ server URL")
            continue
        bench_backend(backend, args)


if __name__ == "__main__":
    main()
