"""A served FVH (real gunicorn through `fvh serve`) and terminals tapping it, for fault tests.

Every tap carries a unique `beschreibung`, so each request can be found in the journal
afterwards: the judgement compares what each terminal was told with what was booked.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fvh.db import Database
from fvh.db.models import Transaction
from tests.conftest import create_server_database, drop_server_database

FVH = [sys.executable, "-m", "fvh"]
SHM = Path("/dev/shm")
METRICS_PREFIX = "fvh-metrics-"
# The servers a test can run on: each configured one, and a skip naming the missing variable.
SERVER_ENGINES = [
    pytest.param(
        "mysql",
        marks=pytest.mark.skipif(not os.environ.get("FVH_TEST_MYSQL_URL"), reason="needs MariaDB"),
    ),
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not os.environ.get("FVH_TEST_POSTGRES_URL"), reason="needs PostgreSQL"
        ),
    ),
]
TERMINAL_TIMEOUT = 10.0  # seconds a deployed terminal waits for an answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def own_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test alone: a file in the data folder, or one on the server."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'fvh.sqlite3'}"
        return
    name = f"fvh_faults_{uuid.uuid4().hex[:10]}"
    url = create_server_database(backend, name)
    try:
        yield url
    finally:
        drop_server_database(backend, name)


def server_url(backend: str) -> str | None:
    return os.environ.get(
        {"mysql": "FVH_TEST_MYSQL_URL", "postgresql": "FVH_TEST_POSTGRES_URL"}[backend]
    )


def database_name(url: str) -> str:
    return make_url(url).database or ""


def fvh(env: dict[str, str], *args: str) -> str:
    """The `fvh` command, as an operator runs it; its output (fails on a non-zero exit)."""
    return subprocess.run(
        [*FVH, *args], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout


def ledger_check(env: dict[str, str]) -> str:
    """'' when `fvh ledger check` finds every balance equal to its journal, else what it said."""
    result = subprocess.run(
        [*FVH, "ledger", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode == 0 and "Ledger OK" in result.stdout:
        return ""
    return f"exit {result.returncode}: {result.stdout}{result.stderr}"


def served_env(url: str, data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(exist_ok=True)
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir), "GUNICORN_WORKERS": "2"}
    for name in ("APP_SECRET", "API_DEBUG", "GUI_DEBUG"):
        env.pop(name, None)
    return env


@dataclass
class Server:
    """`fvh serve` in its own process group, started again after every kill."""

    env: dict[str, str]
    port: int
    log_dir: Path
    process: subprocess.Popen | None = None
    starts: int = 0
    metrics_dirs: list[str] = field(default_factory=list)  # of every start, in order

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fvh(self, *args: str) -> str:
        return fvh(self.env, *args)

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"serve-{self.starts:02d}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*FVH, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the master and all its workers
        )
        log.close()
        self._wait_until_up()
        found = self._own_metrics_dir()
        if found:
            self.metrics_dirs.append(found)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"fvh serve exited:\n{self.log_text(self.starts)}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
            try:
                connection.request("GET", "/api/health")
                if connection.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet, or the workers are still starting
            finally:
                connection.close()
            time.sleep(0.1)
        raise AssertionError(f"fvh serve did not come up:\n{self.log_text(self.starts)}")

    def group(self) -> list[int]:
        """The live processes of the server's process group (master and workers)."""
        assert self.process is not None
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) == self.process.pid:
                    stat = (entry / "stat").read_text()
                    if stat.rsplit(")", 1)[1].split()[0] != "Z":
                        pids.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
        return pids

    def _own_metrics_dir(self) -> str | None:
        """The metrics folder this server's workers map (other agents' servers run beside)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for pid in self.group():
                try:
                    maps = Path(f"/proc/{pid}/maps").read_text()
                except OSError:
                    continue
                for line in maps.splitlines():
                    path = line.split(maxsplit=5)[-1] if len(line.split()) >= 6 else ""
                    if path.startswith(f"{SHM}/{METRICS_PREFIX}"):
                        return str(Path(path).parent)
            time.sleep(0.1)
        return None

    def kill(self) -> None:
        """kill -9 of the whole process group, as a power cut or the OOM killer would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while self.group() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.group(), "processes of the killed server live on"

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)

    def log_text(self, start: int | None = None) -> str:
        files = sorted(self.log_dir.glob("serve-*.log"))
        if start is not None:
            files = [self.log_dir / f"serve-{start:02d}.log"]
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')}" for f in files)


def prepare(env: dict[str, str], members: int = 4, euros: int = 90_000) -> tuple[list[str], str]:
    """Migrate, add members with money and a terminal key, as an operator would with the CLI."""
    fvh(env, "db", "upgrade")
    codes = [f"70000000{i:02d}" for i in range(members)]
    for code in codes:
        fvh(env, "member", "add", code, f"Test{code[-2:]}", "Last")
        fvh(env, "book", code, str(euros), "Einzahlung")
    key = fvh(env, "api-key", "create", "Lasttest").strip()
    return codes, key


# --- terminals ----------------------------------------------------------------------------

ANSWERED = "answered"  # an HTTP answer came back
REFUSED = "refused"  # no connection: the request was never sent
BROKEN = "broken"  # sent, but the connection broke or timed out before an answer


@dataclass(frozen=True)
class Answer:
    description: str
    kind: str
    status: int | None = None
    body: Any = None
    retry_after: str | None = None
    seconds: float = 0.0
    error: str = ""
    request_id: str = ""
    at: float = 0.0  # time.monotonic() when it was sent

    @property
    def booked(self) -> bool:
        """The terminal was told the tap was booked."""
        return self.status == 200 and isinstance(self.body, dict) and "saldo" in self.body

    @property
    def uncertain(self) -> bool:
        """The answer says explicitly that nobody knows whether it was booked (a commit whose
        connection broke, and the lookup afterwards failed too): the terminal must not retry."""
        if self.status != 503 or not isinstance(self.body, dict):
            return False
        return bool(self.body.get("uncertain")) or "nicht bekannt" in str(self.body.get("error"))


def tap(port: int, key: str, code: str, description: str, timeout: float = TERMINAL_TIMEOUT):
    """One terminal tap by member code, over a fresh connection, as the terminals do."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.connect()
    except OSError as exc:
        connection.close()
        return Answer(description, REFUSED, error=repr(exc), at=started)
    try:
        connection.request(
            "PUT",
            f"/api/person/{code}/transaktion",
            body=json.dumps({"beschreibung": description}),
            headers={"Content-Type": "application/json", "X-API-Key": key},
        )
        response = connection.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as exc:
        seconds = time.monotonic() - started
        return Answer(description, BROKEN, seconds=seconds, error=repr(exc), at=started)
    finally:
        connection.close()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(
        description,
        ANSWERED,
        response.status,
        body,
        response.getheader("Retry-After"),
        time.monotonic() - started,
        request_id=response.getheader("X-Request-Id") or "",
        at=started,
    )


class Terminals:
    """Threads tapping in a loop until stopped, each tap with its own description."""

    def __init__(self, port: int, key: str, codes: list[str], threads: int, prefix: str):
        self.port, self.key, self.codes, self.prefix = port, key, codes, prefix
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def _run(self, index: int) -> None:
        for seq in itertools.count():
            if self._stop.is_set():
                return
            code = self.codes[(index + seq) % len(self.codes)]
            answer = tap(self.port, self.key, code, f"{self.prefix}-{index}-{seq}")
            self.answers.append(answer)
            if answer.kind == REFUSED:
                time.sleep(0.05)  # the server is down: try again shortly, as a terminal would

    def __enter__(self) -> Terminals:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TERMINAL_TIMEOUT + 5)


# --- the judgement ------------------------------------------------------------------------


def journal_counts(url: str, prefix: str) -> Counter[str]:
    """How often each tap's description is in the journal."""
    database = Database(url)
    try:
        with database.session() as session:
            rows = session.execute(
                select(Transaction.description, func.count())
                .where(Transaction.description.like(f"{prefix}-%"))
                .group_by(Transaction.description)
            ).all()
    finally:
        database.dispose()
    return Counter(dict(rows))


@dataclass
class Figures:
    sent: int
    acknowledged: int
    answered_not_booked: int
    refused: int
    broken: int
    five_xx: int
    uncertain: int
    statuses: Counter[int]
    phantoms: list[Answer]  # booked although the terminal was not told so
    lost: list[Answer]  # told "booked", not in the journal
    failed_but_booked: list[Answer]  # told "failed" (an answer, not a broken connection)
    duplicates: list[str]  # one request booked twice
    unexplained: list[str]  # journal rows no request of ours made

    def line(self, label: str) -> str:
        return (
            f"{label}: taps sent {self.sent}, acknowledged {self.acknowledged}, "
            f"answered not booked {self.answered_not_booked}, 5xx {self.five_xx} "
            f"(of them uncertain {self.uncertain}), "
            f"refused connections {self.refused}, broken connections {self.broken}, "
            f"phantoms {len(self.phantoms)}, lost {len(self.lost)}, "
            f"failed but booked {len(self.failed_but_booked)}; statuses {dict(self.statuses)}"
        )


def judge(answers: list[Answer], booked: Counter[str]) -> Figures:
    sent = [a for a in answers if a.kind != REFUSED]
    by_description = {a.description: a for a in answers}
    phantoms = [a for a in answers if not a.booked and booked.get(a.description)]
    return Figures(
        sent=len(sent),
        acknowledged=sum(a.booked for a in answers),
        answered_not_booked=sum(a.kind == ANSWERED and not a.booked for a in answers),
        refused=sum(a.kind == REFUSED for a in answers),
        broken=sum(a.kind == BROKEN for a in answers),
        five_xx=sum(a.status is not None and a.status >= 500 for a in answers),
        uncertain=sum(a.uncertain for a in answers),
        statuses=Counter(a.status for a in answers if a.status is not None),
        phantoms=phantoms,
        lost=[a for a in answers if a.booked and booked.get(a.description) != 1],
        failed_but_booked=[a for a in phantoms if a.kind != BROKEN and not a.uncertain],
        duplicates=[d for d, n in booked.items() if n > 1],
        unexplained=[d for d in booked if d not in by_description],
    )


def metrics_dirs_now() -> set[str]:
    return {str(p) for p in SHM.glob(f"{METRICS_PREFIX}*")} if SHM.is_dir() else set()


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _log_of(answer: Answer, log: str) -> str:
    """The server's log lines of this request (by its id), and any traceback in the log."""
    lines = [line for line in log.splitlines() if answer.request_id and answer.request_id in line]
    return "\n    ".join(lines[:5])


def tracebacks(log: str, limit: int = 2) -> list[str]:
    """The server's tracebacks: each distinct last line counted, the first few in full."""
    lines = log.splitlines()
    full: list[str] = []
    endings: Counter[str] = Counter()
    for number, line in enumerate(lines):
        if not line.startswith("Traceback"):
            continue
        end = number + 1
        while end < len(lines) and lines[end].startswith((" ", "\t")):
            end += 1
        ending = lines[end] if end < len(lines) else ""
        endings[ending] += 1
        if len(full) < limit:
            full.append("\n".join(lines[max(0, number - 1) : end + 1]))
    counted = [f"{count} x {ending}" for ending, count in endings.most_common()]
    return ["exceptions in the log:\n  " + "\n  ".join(counted), *full] if counted else []


def truthful_failures(
    figures: Figures, answers: list[Answer], log: str, *, broken_allowed: bool = False
) -> list[str]:
    """Everything that breaks "every answer is the truth", described for the report."""
    problems = []
    for answer in figures.lost:
        problems.append(f"acknowledged but not booked: {answer}\n    {_log_of(answer, log)}")
    for answer in figures.failed_but_booked:
        problems.append(f"FAILED BUT BOOKED: {answer}\n    {_log_of(answer, log)}")
    if not broken_allowed:
        for answer in figures.phantoms:
            if answer.kind == BROKEN:
                problems.append(f"booked although the terminal got no answer: {answer}")
        broken = [a for a in answers if a.kind == BROKEN]
        if broken:
            problems.append(f"{len(broken)} taps without an answer, e.g. {broken[:3]}")
    if figures.duplicates:
        problems.append(f"booked twice: {figures.duplicates[:10]}")
    if figures.unexplained:
        problems.append(f"journal rows of no request: {figures.unexplained[:10]}")
    unfit = [
        a
        for a in answers
        if a.status is not None
        and a.status >= 500
        and not (a.status == 503 and isinstance(a.body, dict) and a.retry_after)
        and not a.uncertain
    ]
    if unfit:
        problems.append(
            f"{len(unfit)} failure answers are neither 503 JSON with Retry-After nor uncertain "
            f"(statuses {sorted({a.status for a in unfit})}), e.g.:\n    "
            + "\n    ".join(f"{a}\n      {_log_of(a, log)}" for a in unfit[:3])
        )
    if problems:
        problems.extend(f"server log:\n{t}" for t in tracebacks(log))
    return problems
