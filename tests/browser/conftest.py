"""The browser test's world: a real `fvh serve` (gunicorn) and Debian's headless chromium.

The server is prepared as an operator does it (`fvh db upgrade`, which prints the bootstrap
admin's one-time password, then `fvh serve`), with SQLite and DATA_DIR in the test's tmp_path.
Chromium is Debian's package, driven by Playwright without `playwright install`. A missing
chromium or Playwright fails the test with the fix, never a skip: CI installs both.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
FVH = [sys.executable, "-m", "fvh"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PREREQS = "run `sh installation/ci-prereqs.sh` (as root; `make test` does) to install it"
_PASSWORD_RE = re.compile(r"^\s*password:\s*(\S+)\s*$", re.MULTILINE)


@dataclass
class Server:
    base_url: str
    admin_password: str  # the bootstrap admin's one-time password from `fvh db upgrade`
    log: Path


@dataclass
class Problems:
    """What the browser reported: console errors (CSP violations among them), page errors, 5xx."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.items.append(text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(tmp_path: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MYSQL_", "SMTP_", "API_", "GUI_", "FVH_"))
    }
    environment.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fvh.sqlite3'}",
            "DATA_DIR": str(tmp_path),
            "GUNICORN_WORKERS": "2",
        }
    )
    for name in ("APP_SECRET", "BASE_URL", "PROXY_FIX_HOPS", "PUBLIC_URL", "STATIC_URL_PREFIX"):
        environment.pop(name, None)
    return environment


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`fvh serve` exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:  # refused, reset, or timed out while the workers boot: ask again
            time.sleep(0.1)  # polling a port that is not open yet, not waiting for the browser
    pytest.fail(f"{url} did not come up within 30 s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`fvh db upgrade` + `fvh serve --port <free>` in tmp_path (no .env of the checkout)."""
    environment = _environment(tmp_path)
    upgrade = subprocess.run(
        [*FVH, "db", "upgrade"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert "9999999999" in upgrade.stdout, upgrade.stdout
    match = _PASSWORD_RE.search(upgrade.stdout)
    assert match, f"no one-time password in the output of `fvh db upgrade`:\n{upgrade.stdout}"

    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*FVH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base_url}/api/health", process, log)
        yield Server(base_url, match.group(1), log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    output = log.read_text()
    assert "Traceback" not in output, f"the server logged an exception:\n{output}"


@pytest.fixture
def fvh_cli(server: Server, tmp_path: Path) -> Callable[..., str]:
    """Run `fvh ARGS...` as an operator does, against the running server's database; stdout."""
    environment = _environment(tmp_path)

    def run(*args: str) -> str:
        result = subprocess.run(
            [*FVH, *args],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"fvh {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout

    return run


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail(f"Debian's `chromium` is not installed: {PREREQS}.", pytrace=False)
    return path


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def browser_context(chromium_path: str, server: Server, tmp_path: Path, problems: Problems):
    """A fresh chromium profile (light colour scheme, German, desktop size); reports problems.

    It depends on `server` so that it closes first: a connection chromium keeps open to the
    server holds a gunicorn worker, and stopping then waited for the 20 s graceful timeout.
    """
    try:
        from playwright.sync_api import ConsoleMessage, Response, expect, sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright is missing: install the dev extra (`make test`, or "
            "`.venv/bin/pip install -e '.[dev]'`).",
            pytrace=False,
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            locale="de-DE",
            timezone_id="Europe/Berlin",
            color_scheme="light",
        )
        context.set_default_timeout(15_000)  # generous for a loaded CI machine (pytest -n 2)
        expect.set_options(timeout=15_000)

        def on_console(message: ConsoleMessage) -> None:
            where = message.location.get("url", "")
            if where.endswith("/favicon.ico"):
                return  # chromium asks for one on its own; the GUI has none (yet)
            if message.type in ("error", "warning"):
                problems.add(f"console {message.type}: {message.text} ({where})")

        def on_response(response: Response) -> None:
            if response.status >= 500:
                problems.add(f"HTTP {response.status}: {response.request.method} {response.url}")

        context.on("console", on_console)
        context.on("weberror", lambda error: problems.add(f"page error: {error.error}"))
        context.on("response", on_response)
        try:
            yield context
        finally:
            context.close()
