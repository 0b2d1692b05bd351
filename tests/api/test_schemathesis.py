"""schemathesis against the served OpenAPI document: every check, a fixed seed, 0 failures.

FVH runs as an operator runs it (`fvh db upgrade`, `fvh serve` under gunicorn, SQLite), and
schemathesis' CLI reads the document from the server and sends what it generates from it:
the documented examples, the coverage phase's boundaries and missing or wrong parameters,
then fuzzed requests, valid and invalid, each answer checked by all of its checks. One run
has an admin key, so every operation is reached; a second one a terminal key, which the
admin operations must refuse as documented; `ignored_auth` also sends each request without
and with a wrong key. After the runs the ledger must still be consistent.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.test_serve import FVH, _free_port, _fvh, _wait_until_up

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 20261206
MAX_EXAMPLES = 50  # per operation and phase; about half a minute on two cores
# The documented 422 (an Idempotency-Key reused with another body) answers a valid request:
# the fuzzer draws few distinct keys, so it is expected, as 409 is by default.
CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fvh.sqlite3'}",
        "DATA_DIR": str(tmp_path),
        "GUNICORN_WORKERS": "2",
    }
    for name in ("APP_SECRET", "API_DEBUG", "GUI_DEBUG"):
        environment.pop(name, None)
    return environment


def _schemathesis(base: str, config: Path, key: str, max_examples: int, cwd: Path) -> str:
    """One schemathesis run with every check; its output, after asserting it found nothing."""
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{base}/api/openapi.json",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(max_examples),
            "--workers",
            "1",
            "--header",
            f"X-API-Key: {key}",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,  # its report folder, if any, stays there
    )
    output = run.stdout + run.stderr
    summary = re.search(r"(\d+) generated, .*", output)
    print(summary.group(0) if summary else output[-2000:])
    assert run.returncode == 0, output[-8000:]
    assert summary, output[-2000:]
    assert int(summary.group(1)) >= 14 * max_examples  # every operation was fuzzed
    assert "failed" not in summary.group(0) and "error" not in summary.group(0), output
    assert re.search(r"Operations:\s+14 selected / 14 total", output), output[:2000]
    return output


@pytest.mark.slow
def test_schemathesis_finds_nothing_on_the_served_api(env, tmp_path: Path):
    """With an admin key every operation is reached; with a terminal key the admin ones
    must answer 403 as documented (fewer examples: they stop at the scope)."""
    _fvh(env, "db", "upgrade")
    # The document's examples name this member and token: a booking there reaches the ledger.
    _fvh(env, "member", "add", "1234567890", "Anna", "Alt")
    _fvh(env, "token", "add", "1234567890", "04A22B1C")
    _fvh(env, "book", "1234567890", "100", "Einzahlung")
    admin_key = _fvh(env, "api-key", "create", "Schemathesis", "--scope", "admin").strip()
    terminal_key = _fvh(env, "api-key", "create", "Terminal").strip()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)

    port = _free_port()
    server_log = tmp_path / "server.log"
    # The access log goes to a file: a pipe nobody reads would stop the server when full.
    with server_log.open("w") as log_file:
        server = subprocess.Popen(
            [*FVH, "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/health", server)
        _schemathesis(base, config, admin_key, MAX_EXAMPLES, tmp_path)
        _schemathesis(base, config, terminal_key, 10, tmp_path)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    log = server_log.read_text()
    assert "Traceback" not in log, log[-4000:]
    assert " 403 " in log  # the terminal key met the admin operations
    assert "Ledger OK" in _fvh(env, "ledger", "check")
