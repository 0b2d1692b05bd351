"""CPU time of one terminal tap inside one process: the WSGI app called directly, no server.

No sockets, no gunicorn, no other processes: what is left is FVH, Flask and the database
driver, which makes it the steadier figure for comparing two versions of the hot path
(the served benchmark, run.py, moves with everything else on the machine).

    python benchmarks/inprocess.py [--taps 3000] [--backend sqlite|mysql|postgresql]

Prints the CPU time per tap (user + system, of this process; on SQLite that includes the
database itself) next to the same for an empty Flask JSON endpoint.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from flask import Flask, jsonify

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # this folder's served benchmark: seeding, scratch databases

from fvh.app import create_app


def _environ(method: str, path: str, body: bytes, key: str) -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_API_KEY": key,
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def cpu_per_request(app: Flask, requests: list[tuple[str, str, bytes, str]]) -> float:
    """Microseconds of this process's CPU per request; every answer must be a 200."""
    statuses: list[str] = []

    def start_response(status: str, _headers: list, _exc_info: object = None) -> None:
        statuses.append(status)

    started = time.process_time()
    for method, path, body, key in requests:
        answer = app(_environ(method, path, body, key), start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()
    spent = time.process_time() - started
    assert all(status.startswith("200") for status in statuses), set(statuses)
    return spent / len(requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taps", type=int, default=3000)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "mysql", "postgresql"])
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as workdir,
        bench.scratch_database(args.backend, Path(workdir)) as url,
    ):
        key, people = bench.seed(url, 200, 20_000)
        app = create_app(
            {"DATABASE_URL": url, "APP_SECRET": bench.SECRET, "DATA_DIR": workdir}, mode="api"
        )
        empty = Flask("empty")
        empty.put("/")(lambda: jsonify(ok=True))
        rng = random.Random(1)
        taps = [
            (
                "PUT",
                "/nfc-transaktion",
                json.dumps(
                    {"token": base64.b64encode(token).decode(), "beschreibung": "Bench"}
                ).encode(),
                key,
            )
            for _code, token in (rng.choice(people) for _ in range(args.taps))
        ]
        pings = [("PUT", "/", b"{}", "")] * args.taps
        cpu_per_request(app, taps[:200])  # warm up: imports, caches, connections
        cpu_per_request(empty, pings[:200])
        for round_ in range(3):
            tap = cpu_per_request(app, taps)
            ping = cpu_per_request(empty, pings)
            print(
                f"[{args.backend}] round {round_ + 1}: tap {tap:6.0f} µs CPU"
                f"   empty Flask endpoint {ping:5.0f} µs"
            )
        app.extensions["fvh_db"].dispose()


if __name__ == "__main__":
    main()
