"""`fvh db upgrade` + `fvh serve` as an operator runs them: real gunicorn on a free port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest

FVH = [sys.executable, "-m", "fvh"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, *, method: str = "GET", body: dict | None = None, key: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("X-API-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fvh.sqlite3'}",
        "DATA_DIR": str(tmp_path),
        "GUNICORN_WORKERS": "2",
    }
    environment.pop("APP_SECRET", None)  # `fvh db upgrade` creates one in DATA_DIR
    environment.pop("API_DEBUG", None)
    environment.pop("GUI_DEBUG", None)
    return environment


def _fvh(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [*FVH, *args], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def _start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*FVH, "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:  # refused, reset or timed out while the workers start: not up yet
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def _stop(process: subprocess.Popen) -> str:
    os.killpg(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.mark.slow
def test_upgrade_then_serve_combined_with_gunicorn(env):
    first = _fvh(env, "db", "upgrade")
    assert "9999999999" in first
    _fvh(env, "member", "add", "1234567890", "Max", "Muster")
    _fvh(env, "book", "1234567890", "3", "Einzahlung")
    key = _fvh(env, "api-key", "create", "Kasse").strip()
    admin_key = _fvh(env, "api-key", "create", "Monitoring", "--scope", "admin").strip()

    port = _free_port()
    process = _start(env, "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/health", process)
        status, body = _request(
            f"{base}/api/person/1234567890/transaktion",
            method="PUT",
            body={"beschreibung": "Kasse Theke"},
            key=key,
        )
        assert (status, body["saldo"], body["vorname"]) == (200, 2, "Max")
        assert _request(f"{base}/api/version")[0] == 401
        for _ in range(3):  # spread over the workers; metrics must add up across them
            _request(
                f"{base}/api/person/1234567890/transaktion",
                method="PUT",
                body={"beschreibung": "Kasse Theke"},
                key=key,
            )
        metrics = urllib.request.Request(f"{base}/metrics", headers={"X-API-Key": admin_key})
        with urllib.request.urlopen(metrics, timeout=10) as response:
            text = response.read().decode()
        assert 'fvh_bookings_total{endpoint="api.book_by_code",outcome="booked"} 3.0' in text
        assert 'fvh_bookings_total{endpoint="api.book_by_code",outcome="block"} 1.0' in text
        with urllib.request.urlopen(f"{base}/", timeout=5) as response:
            assert response.status == 200
    finally:
        output = _stop(process)
    assert "gunicorn" in output.lower() or "Booting worker" in output
    assert f"http://127.0.0.1:{port}/" in output
    assert key not in output  # keys never reach the logs
    assert admin_key not in output
    assert "rid=" in output  # access log lines carry the request id
    assert re.search(
        r'"PUT /api/person/1234567890/transaktion HTTP/1\.[01]" 200 \d+ \d+ms "[^"]*" '
        r"rid=[0-9a-f]{32}",
        output,
    ), output
    assert process.returncode == 0


@pytest.mark.slow
def test_serve_api_and_gui_apart(env):
    _fvh(env, "db", "upgrade")
    api_port, gui_port = _free_port(), _free_port()
    api = _start(env, "api", "--port", str(api_port))
    gui = _start(env, "gui", "--port", str(gui_port))
    try:
        _wait_until_up(f"http://127.0.0.1:{api_port}/health", api)
        _wait_until_up(f"http://127.0.0.1:{gui_port}/", gui)
        assert _status(f"http://127.0.0.1:{api_port}/api/health") == 404
        assert _status(f"http://127.0.0.1:{gui_port}/health") == 404
    finally:
        _stop(api)
        _stop(gui)


@pytest.mark.slow
def test_serve_refuses_an_unmigrated_database(env):
    result = subprocess.run([*FVH, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "fvh db upgrade" in result.stderr


@pytest.mark.slow
def test_serve_refuses_the_placeholder_secret_before_listening(env):
    _fvh(env, "db", "upgrade")
    result = subprocess.run(
        [*FVH, "serve", "--port", str(_free_port())],
        env={**env, "APP_SECRET": "change-me"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "APP_SECRET" in result.stderr
    assert "listening" not in result.stdout


@pytest.mark.slow
def test_serve_refuses_a_missing_secret(env, tmp_path):
    _fvh(env, "db", "upgrade")  # creates DATA_DIR/app_secret ...
    (tmp_path / "app_secret").unlink()  # ... which an operator might lose
    result = subprocess.run(
        [*FVH, "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "APP_SECRET is missing" in result.stderr


def test_worker_class_is_checked_before_gunicorn_starts():
    from fvh.config import load_config
    from fvh.ops.serving import FvhSyncWorker, FvhThreadWorker, gunicorn_options

    options = gunicorn_options(load_config(env_file=False), "127.0.0.1:0")
    assert (options["worker_class"], options["threads"]) == (FvhSyncWorker, 1)
    threaded = load_config(
        {"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": 4}, env_file=False
    )
    assert gunicorn_options(threaded, "127.0.0.1:0")["threads"] == 4
    assert gunicorn_options(threaded, "127.0.0.1:0")["worker_class"] is FvhThreadWorker
    # more than one thread is gunicorn's threaded worker even if "sync" was named
    several = load_config({"GUNICORN_THREADS": 2}, env_file=False)
    assert gunicorn_options(several, "127.0.0.1:0")["worker_class"] is FvhThreadWorker
    with pytest.raises(click.ClickException, match="GUNICORN_WORKER_CLASS"):
        gunicorn_options(load_config({"GUNICORN_WORKER_CLASS": "eventlet"}, env_file=False), "x")


def test_default_worker_count_depends_on_the_backend(monkeypatch):
    from fvh.config import load_config
    from fvh.ops.serving import default_workers

    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 2)
    sqlite = load_config({"DATABASE_URL": "sqlite:///x.sqlite3"}, env_file=False)
    mariadb = load_config({"DATABASE_URL": "mysql+mysqlconnector://u@h/db"}, env_file=False)
    assert (default_workers(sqlite), default_workers(mariadb)) == (2, 3)
    fixed = load_config({"DATABASE_URL": "sqlite:///x", "GUNICORN_WORKERS": 7}, env_file=False)
    assert default_workers(fixed) == 7


def test_workers_tell_the_master_they_live_through_memory_not_the_disk():
    from fvh.config import load_config
    from fvh.ops.serving import gunicorn_options, memory_dir

    options = gunicorn_options(load_config(env_file=False), "127.0.0.1:0")
    assert options["worker_tmp_dir"] == memory_dir() == "/dev/shm"  # Linux has it


def test_access_log_line_has_every_field_of_its_format(tmp_path):
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config as GunicornConfig

    from fvh.ops.serving import ACCESS_LOG_FORMAT, AccessLogger

    settings = GunicornConfig()
    settings.set("accesslog", str(tmp_path / "access.log"))
    settings.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = AccessLogger(settings)
    response = SimpleNamespace(
        status="201 CREATED", sent=42, headers=[("X-Request-ID", "abc"), ("Content-Length", "42")]
    )
    environ = {
        "REMOTE_ADDR": "10.0.0.7",
        "REQUEST_METHOD": "PUT",
        "PATH_INFO": "/api/nfc-transaktion",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "token=secret",
        "HTTP_USER_AGENT": "Terminal/1.0",
    }
    atoms = logger.atoms(response, None, environ, timedelta(milliseconds=12, microseconds=900))
    line = ACCESS_LOG_FORMAT % atoms
    assert line == '10.0.0.7 "PUT /api/nfc-transaktion HTTP/1.1" 201 42 12ms "Terminal/1.0" rid=abc'
    assert "secret" not in line  # the query string is never logged
    # What `access` writes is that line, a "%" in the path left as it is.
    environ["PATH_INFO"] = "/api/person/100%25"
    logger.access(response, None, environ, timedelta(milliseconds=3))
    written = (tmp_path / "access.log").read_text()
    assert (
        written
        == line.replace("/api/nfc-transaktion", "/api/person/100%25").replace("12ms", "3ms") + "\n"
    )


# --- oversized and malformed heads --------------------------------------------------------


def _raw(port: int, data: bytes, *, tls: bool = False) -> tuple[int, str, bytes]:
    """Send `data` as it is; the answer's status, content type and body."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the snakeoil certificate
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as plain,
        context.wrap_socket(plain) if tls else plain as sock,
    ):
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    content_type = next((v for k, v in fields.items() if k.lower() == "content-type"), "")
    return int(lines[0].split()[1]), content_type, body


def _get(path: str, *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    head = b"".join(h + b"\r\n" for h in (b"Host: x", *headers, b"Connection: close"))
    return b"GET " + path.encode() + b" " + version + b"\r\n" + head + b"\r\n"


# (name, request for a path, status, whether gunicorn refuses it before the app sees it):
# FVH's own limits (4 KB line, 8 KB header, 100 headers) apply first; gunicorn's are higher
# (8 KB line, 32 KB header, 200 headers), and it never passes on control characters.
HEADS = [
    ("line over 4 KB", lambda p: _get(p + "?q=" + "a" * 5000), 414, False),
    ("line over gunicorn's 8 KB", lambda p: _get(p + "?q=" + "a" * 9000), 414, True),
    ("header over 8 KB", lambda p: _get(p, b"X-Big: " + b"a" * 9000), 431, False),
    ("header over gunicorn's limit", lambda p: _get(p, b"X-Big: " + b"a" * 40000), 431, True),
    ("150 headers", lambda p: _get(p, *(b"X-H%d: v" % i for i in range(150))), 431, False),
    ("250 headers", lambda p: _get(p, *(b"X-H%d: v" % i for i in range(250))), 431, True),
    ("control character in a header", lambda p: _get(p, b"X-A: a\x01b"), 400, True),
    ("NUL in a header", lambda p: _get(p, b"X-A: a\x00b"), 400, True),
    ("unknown HTTP version", lambda p: _get(p, version=b"HTTP/7.1"), 400, True),
]


@pytest.mark.slow
def test_oversized_or_malformed_heads_are_answered_in_the_doors_format(env):
    """API paths get `{"error": ...}` JSON, GUI paths a plain German page, never gunicorn's
    HTML: FVH's limits apply first, and what gunicorn refuses its worker answers the same.

    Where gunicorn refuses a request before it knows the path, only a GUI-only server
    answers plain text; the combined server answers JSON, the format of its API.
    """
    _fvh(env, "db", "upgrade")
    env = {**env, "GUNICORN_WORKERS": "1"}
    combined_port, gui_port = _free_port(), _free_port()
    combined = _start(env, "--port", str(combined_port))
    gui = _start(env, "gui", "--port", str(gui_port))
    problems = []
    try:
        _wait_until_up(f"http://127.0.0.1:{combined_port}/api/health", combined)
        _wait_until_up(f"http://127.0.0.1:{gui_port}/login", gui)
        for name, request, status, by_gunicorn in HEADS:
            for port, path, as_json in (
                (combined_port, "/api/health", True),
                (combined_port, "/login", by_gunicorn),
                (gui_port, "/login", False),
            ):
                got, content_type, body = _raw(port, request(path))
                text = body.decode("utf-8", "replace")
                if as_json:
                    ok = content_type == "application/json" and list(json.loads(body)) == ["error"]
                else:
                    ok = content_type.startswith("text/plain") and "<" not in text
                if got != status or not ok or "Anfrage" not in text:
                    problems.append(f"{name} {port} {path}: {got} {content_type} {text[:80]!r}")
        # the servers still answer normally afterwards
        assert _status(f"http://127.0.0.1:{combined_port}/api/health") == 200
        assert _status(f"http://127.0.0.1:{gui_port}/login") == 200
    finally:
        _stop(combined)
        _stop(gui)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_nginx_example_refuses_in_the_doors_format_too(env, tmp_path):
    """installation/nginx/fvh.conf in front of `fvh serve`: FVH's limits still apply first
    (nginx's buffers are larger), and what nginx refuses itself gets the same answers."""
    from tests.ops.test_installation import NGINX_SITE, _tool, _wait_for_port, nginx_conf

    _fvh(env, "db", "upgrade")
    env = {**env, "GUNICORN_WORKERS": "1", "PROXY_FIX_HOPS": "1"}
    fvh_port, https_port = _free_port(), _free_port()
    server = _start(env, "--port", str(fvh_port))
    site = re.sub(r"\n\s*listen \[::\]:\d+ ?[a-z ]*;", "", NGINX_SITE.read_text())
    site = site.replace("listen 80;", f"listen 127.0.0.1:{_free_port()};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = site.replace("server 127.0.0.1:5000;", f"server 127.0.0.1:{fvh_port};")
    folder = tmp_path / "nginx"
    conf = nginx_conf(folder, site, extra="master_process off; daemon off;")
    nginx = subprocess.Popen(
        [_tool("nginx"), "-p", folder, "-e", folder / "error.log", "-c", conf],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # (what, request for a path, status, who refuses; JSON on the GUI path too when the
    # refusing server does not know the path)
    cases = [
        ("line over 4 KB", lambda p: _get(p + "?q=" + "a" * 5000), 414, "fvh"),
        ("line over 16 KB", lambda p: _get(p + "?q=" + "a" * 20000), 414, "nginx, no path"),
        ("header over 8 KB", lambda p: _get(p, b"X-Big: " + b"a" * 9000), 431, "fvh"),
        ("header over 16 KB", lambda p: _get(p, b"X-Big: " + b"a" * 20000), 431, "nginx"),
        ("control character", lambda p: _get(p, b"X-A: a\x01b"), 400, "gunicorn, no path"),
        ("unknown HTTP version", lambda p: _get(p, version=b"HTTP/7.1"), 400, "nginx, no path"),
        ("fine", lambda p: _get(p), 200, "nobody"),
    ]
    problems = []
    try:
        _wait_until_up(f"http://127.0.0.1:{fvh_port}/api/health", server)
        _wait_for_port(https_port, nginx, "nginx")
        for name, request, status, refuser in cases:
            for path in ("/fvh/api/health", "/fvh/login"):
                got, content_type, body = _raw(https_port, request(path), tls=True)
                as_json = path.startswith("/fvh/api/") or "no path" in refuser
                text = body.decode("utf-8", "replace")
                if as_json:
                    ok = content_type == "application/json" and set(json.loads(body)) <= {
                        "error",
                        "message",
                    }
                else:
                    ok = content_type.startswith("text/") and "<html" not in text.lower()
                if status == 200:
                    ok = got == 200
                if got != status or not ok:
                    problems.append(f"{name} {path}: {got} {content_type} {text[:80]!r}")
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.communicate(timeout=30)
        _stop(server)
    assert not problems, "\n".join(problems)


# --- metrics folders of killed servers ----------------------------------------------------


def test_only_the_metrics_folders_of_dead_servers_are_removed(tmp_path):
    from fvh.ops.serving import remove_stale_metrics_dirs

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=30)
    dead = tmp_path / f"fvh-metrics-{finished.pid}-abc_1234"
    alive = tmp_path / f"fvh-metrics-{os.getpid()}-xyz_9876"
    other = [tmp_path / "fvh-metrics-q1w2e3r4", tmp_path / "fvh-mail", tmp_path / "1234-abc"]
    for folder in (dead, alive, *other):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"\0" * 16)
    assert remove_stale_metrics_dirs(str(tmp_path)) == [str(dead)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (alive, *other))


@pytest.mark.slow
def test_a_killed_servers_metrics_folder_is_removed_at_the_next_start(env):
    """kill -9 of the whole server leaves its folder in /dev/shm; the next start removes it
    and never the folder of a server that still runs."""
    from fvh.ops.serving import memory_dir

    _fvh(env, "db", "upgrade")
    env = {**env, "GUNICORN_WORKERS": "1"}
    shm = Path(memory_dir() or "/nonexistent")
    assert shm.is_dir()

    def folders_of(process: subprocess.Popen) -> list[Path]:
        return list(shm.glob(f"fvh-metrics-{process.pid}-*"))

    first_port, second_port = _free_port(), _free_port()
    first = _start(env, "--port", str(first_port))
    _wait_until_up(f"http://127.0.0.1:{first_port}/api/health", first)
    [killed_folder] = folders_of(first)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    assert killed_folder.is_dir()  # what a crash leaves behind

    running = _start(env, "api", "--port", str(_free_port()))
    second = None
    try:
        deadline = time.monotonic() + 60
        while not folders_of(running):
            assert time.monotonic() < deadline, "the running server has no metrics folder"
            time.sleep(0.1)
        second = _start(env, "--port", str(second_port))
        _wait_until_up(f"http://127.0.0.1:{second_port}/api/health", second)
        assert not killed_folder.exists()
        assert folders_of(running) and folders_of(second)
    finally:
        _stop(running)
        if second is not None:
            _stop(second)
    assert not folders_of(running) and not folders_of(second)  # a clean stop removes its own
