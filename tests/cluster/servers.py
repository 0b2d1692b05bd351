"""Real FVH servers (`fvh serve api`, gunicorn) and a terminal-like HTTP client.

Each server is started as an operator would (environment variables, `fvh db upgrade` once),
writes its log to a file (a pipe nobody reads would stop it once full), and runs in its own
process group so that stopping it takes its workers too. The client opens a new connection
per request as the terminals do and records every answer with its latency, so a test can
count outcomes, 5xx and unanswered requests and print p99. Used by tests/cluster/ and
benchmarks/galera.py.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

FVH = [sys.executable, "-m", "fvh"]
WORKERS = 2  # per server: three servers and three mariadbd share two cores
CLIENT_TIMEOUT = 10.0  # a terminal gives up after 10 s (docs/api.md)
RETRIES_METRIC = "fvh_booking_retries_total"
# A log record starts with a date (FVH, gunicorn) or is an access log line.
_RECORD_START = re.compile(r'^(\d{4}-\d\d-\d\d |\[\d{4}-\d\d-\d\d |\S+ "[A-Z]+ )')


def start_all(servers: list[Server], timeout: float = 60.0) -> None:
    """Start the servers side by side (each takes seconds to import and fork its workers)."""
    for server in servers:
        server.launch()
    for server in servers:
        server.wait_until_up(timeout)


def server_environment(database_url: str, data_dir: Path, secret: str) -> dict[str, str]:
    """The environment of `fvh` for one server: its database, its folder, small and quiet."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "APP_SECRET": secret,
        "GUNICORN_WORKERS": str(WORKERS),
        "METRICS_ALLOW_IPS": "127.0.0.1",
        "MYSQL_POOL_SIZE": "4",
    }
    for name in ("API_DEBUG", "GUI_DEBUG", "MYSQL_HOST", "SMTP_HOST", "RESPONSIBLE_EMAIL"):
        environment.pop(name, None)
    data_dir.mkdir(parents=True, exist_ok=True)
    return environment


def fvh(environment: Mapping[str, str], *args: str) -> str:
    """Run one `fvh` command to its end; its output, or an error with it."""
    result = subprocess.run(
        [*FVH, *args], env=dict(environment), capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"fvh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class Server:
    """One `fvh serve api` on 127.0.0.1:`port`, logging to `log`."""

    name: str
    port: int
    environment: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        self.wait_until_up(timeout)

    def launch(self) -> None:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [*FVH, "serve", "api", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_until_up(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            if request(self, "GET", "/health", timeout=2).status == 200:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not come up:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_mark(self) -> int:
        """Where the log ends now, for `log_since`."""
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, mark: int) -> str:
        try:
            with open(self.log, "rb") as log:
                log.seek(mark)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def tracebacks(self) -> list[str]:
        """Every error the server logged (with its traceback, if any), oldest first."""
        records: list[list[str]] = []
        for line in self.log_text().splitlines():
            if _RECORD_START.match(line) or not records:
                records.append([line])
            else:
                records[-1].append(line)  # a traceback's lines belong to the record above
        return ["\n".join(r) for r in records if " ERROR " in r[0] or len(r) > 1]

    def retries(self) -> float | None:
        """The server's `fvh_booking_retries_total` over all labels; None while it has none."""
        answer = request(self, "GET", "/metrics", timeout=10)
        if answer.status != 200 or not isinstance(answer.text, str):
            return None
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in answer.text.splitlines()
            if line.startswith(RETRIES_METRIC) and not line.startswith(RETRIES_METRIC + "_created")
        ]
        return sum(values) if values else None


@dataclass(frozen=True)
class Answer:
    """One request's outcome as the client saw it (status 0: no answer at all)."""

    server: str
    method: str
    path: str
    status: int
    body: object
    seconds: float
    text: str = ""
    error: str = ""
    started: float = 0.0  # time.monotonic() when the request was sent
    request_id: str = ""  # X-Request-ID: finds the request's lines in the server's log

    @property
    def outcome(self) -> str:
        """`booked`, `block`, `locked`, or the status (`503`, `0` for no answer)."""
        if isinstance(self.body, dict):
            if self.body.get("action"):
                return str(self.body["action"])
            if self.status == 200 and "saldo" in self.body and "message" in self.body:
                return "booked"
        return str(self.status)


def request(
    server: Server,
    method: str,
    path: str,
    *,
    body: object = None,
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = CLIENT_TIMEOUT,
) -> Answer:
    """One request on a new connection, as a terminal makes it."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key:
        sent["X-API-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
    except OSError as exc:  # refused, reset, timed out: the terminal got no answer
        seconds = time.monotonic() - started
        return Answer(server.name, method, path, 0, None, seconds, error=repr(exc), started=started)
    finally:
        connection.close()
    seconds = time.monotonic() - started
    text = raw.decode(errors="replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return Answer(
        server.name,
        method,
        path,
        response.status,
        parsed,
        seconds,
        text,
        started=started,
        request_id=response.getheader("X-Request-ID") or "",
    )


def tap_by_code(server: Server, key: str, code: str, **kwargs: object) -> Answer:
    return request(
        server,
        "PUT",
        f"/person/{code}/transaktion",
        body={"beschreibung": f"Galera {server.name}"},
        key=key,
        **kwargs,  # type: ignore[arg-type]
    )


def tap_by_token(server: Server, key: str, token: str) -> Answer:
    return request(
        server,
        "PUT",
        "/nfc-transaktion",
        body={"token": token, "beschreibung": f"Galera {server.name}"},
        key=key,
    )


def idempotency_key() -> str:
    return f"galera-{uuid.uuid4().hex}"


@dataclass
class Tally:
    """Answers collected by many threads; counts and latencies for the figures."""

    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> Answer:
        with self._lock:
            self.answers.append(answer)
        return answer

    def outcomes(self, server: str | None = None) -> Counter[str]:
        return Counter(a.outcome for a in self.answers if server in (None, a.server))

    def server_errors(self, server: str | None = None) -> list[Answer]:
        return [a for a in self.answers if a.status >= 500 and server in (None, a.server)]

    def unanswered(self, server: str | None = None) -> list[Answer]:
        return [a for a in self.answers if a.status == 0 and server in (None, a.server)]

    def percentile(self, fraction: float, server: str | None = None) -> float:
        latencies = sorted(a.seconds for a in self.answers if server in (None, a.server))
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))]

    def summary(self) -> str:
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes().items()))
        return (
            f"{len(self.answers)} requests ({outcomes}); 5xx {len(self.server_errors())}, "
            f"no answer {len(self.unanswered())}; p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.0f} ms, "
            f"max {self.percentile(1.0) * 1000:.0f} ms"
        )


def describe_failures(answers: list[Answer], servers: list[Server], limit: int = 5) -> str:
    """The first failing answers with what their servers logged about them, for an assertion."""
    logs = {server.name: server.log_text().splitlines() for server in servers}
    lines = []
    for a in answers[:limit]:
        lines.append(
            f"{a.server} {a.method} {a.path} -> {a.status} {a.text.strip()[:200]}{a.error}"
        )
        if a.request_id:
            lines += [f"    {line}" for line in logs.get(a.server, []) if a.request_id in line]
    for server in servers:
        logged = server.tracebacks()
        if logged:
            lines.append(f"--- {server.name}: {len(logged)} logged errors, the last:")
            lines.append(logged[-1][-4000:])
    return "\n".join(lines)


def total_retries(servers: list[Server]) -> float | None:
    """`fvh_booking_retries_total` summed over the servers (None: the metric does not exist)."""
    values = [server.retries() for server in servers]
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def per_thousand(retries: float | None, taps: int) -> str:
    if retries is None:
        return "n/a (no fvh_booking_retries_total)"
    return f"{retries:.0f} ({1000 * retries / max(taps, 1):.1f} per 1,000 taps)"
