"""The production installation in `installation/`: systemd units, nginx site, uWSGI files and
the WSGI entry points they name, checked with the real tools (systemd-analyze, nginx).

`installation/ci-prereqs.sh` installs nginx and the snakeoil certificate; these tests never
install anything and fail with a clear message when a tool is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real units, nginx, gunicorn and uWSGI: seconds each

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "installation"
SYSTEMD = INSTALL / "systemd"
SERVICES = ["fvh.service", "fvh-api.service", "fvh-gui.service"]
ALL_UNITS = [*SERVICES, "fvh-backup.service", "fvh-backup.timer"]
NGINX_SITE = INSTALL / "nginx" / "fvh.conf"
UWSGI = {"fvh.ini": "application", "fvh-api.ini": "api", "fvh-gui.ini": "gui"}
PREREQS = "run `sh installation/ci-prereqs.sh` (as root) first"
SNAKEOIL = Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")

# Every long-running service and the backup run with exactly this sandbox.
HARDENING = {
    "User": "fvh",
    "Group": "fvh",
    "ProtectSystem": "strict",
    "StateDirectory": "fvh",
    "ReadWritePaths": "/var/lib/fvh",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "SystemCallErrorNumber": "EPERM",
    "ProtectProc": "invisible",
    "RemoveIPC": "yes",
    "WorkingDirectory": "/opt/fvh",
    "EnvironmentFile": "-/opt/fvh/.env",
}


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/usr/bin", "/sbin") if os.access(p := f"{d}/{name}", os.X_OK)),
        None,
    )
    if path is None:
        pytest.fail(f"`{name}` is not installed: {PREREQS}", pytrace=False)
    return path


def _run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, **kwargs
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited: {process.communicate()[0]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port}")


# --- systemd ------------------------------------------------------------------------------


def parse_unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every setting, in order (keys may repeat)."""
    settings, section = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def unit_values(path: Path, key: str) -> list[str]:
    return [v for _s, k, v in parse_unit(path) if k == key]


def local_units(tmp_path: Path) -> Path:
    """The units with /opt/fvh's programs replaced by this checkout's: `systemd-analyze verify`
    checks that every Exec* program exists. Everything else (User=fvh, sandbox) is kept."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "fvh").exists(), f"no fvh next to {sys.executable}"
    folder = tmp_path / "units"
    folder.mkdir()
    for name in [*ALL_UNITS, "fvh.sysusers"]:
        text = (SYSTEMD / name).read_text()
        text = text.replace("/opt/fvh/.venv/bin/", f"{venv_bin}/")
        text = text.replace("/opt/fvh/installation/", f"{INSTALL}/")
        (folder / name).write_text(text)
    return folder


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = _tool("systemd-analyze")
    folder = local_units(tmp_path)
    for name in ALL_UNITS:
        for command in unit_values(folder / name, "ExecStart") + unit_values(
            folder / name, "ExecStartPre"
        ):
            program = command.split()[0]
            assert os.access(program, os.X_OK), f"{name}: {program} is not executable"
    result = _run(analyze, "verify", *(folder / name for name in ALL_UNITS))
    # Unknown keys and bad values are only warnings (exit 0): any output is a finding.
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output


def test_services_are_sandboxed(tmp_path):
    for name in [*SERVICES, "fvh-backup.service"]:
        settings = {k: v for section, k, v in parse_unit(SYSTEMD / name) if section == "Service"}
        wrong = {k: settings.get(k) for k, v in HARDENING.items() if settings.get(k) != v}
        assert not wrong, f"{name}: {wrong}"
        assert "DATA_DIR=/var/lib/fvh" in unit_values(SYSTEMD / name, "Environment")
        assert "network-online.target" in unit_values(SYSTEMD / name, "Wants")
        after = " ".join(unit_values(SYSTEMD / name, "After")).split()
        assert {"network-online.target", "mariadb.service", "postgresql.service"} <= set(after)
    for name, part in zip(SERVICES, ["", " api", " gui"], strict=True):
        assert unit_values(SYSTEMD / name, "ExecStart") == [f"/opt/fvh/.venv/bin/fvh serve{part}"]
        assert unit_values(SYSTEMD / name, "ExecStartPre") == ["/opt/fvh/.venv/bin/fvh db upgrade"]
        assert unit_values(SYSTEMD / name, "Restart") == ["on-failure"]
        assert unit_values(SYSTEMD / name, "WantedBy") == ["multi-user.target"]
    # systemd's own rating of the sandbox: "OK" is at most 2.0 of 10 (10 = no sandbox).
    analyze = _tool("systemd-analyze")
    folder = local_units(tmp_path)
    for name in [*SERVICES, "fvh-backup.service"]:
        result = _run(analyze, "security", "--offline=true", "--threshold=20", folder / name)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_backup_timer_runs_daily_and_catches_up():
    analyze = _tool("systemd-analyze")
    timer = SYSTEMD / "fvh-backup.timer"
    (calendar,) = unit_values(timer, "OnCalendar")
    result = _run(analyze, "calendar", "--iterations=2", calendar)
    assert result.returncode == 0, result.stderr
    assert re.search(r"Iter\. #2: \w+ \d{4}-\d\d-\d\d 03:15:00", result.stdout), result.stdout
    assert unit_values(timer, "Persistent") == ["true"]
    assert unit_values(SYSTEMD / "fvh-backup.service", "ExecStart") == [
        "/bin/sh /opt/fvh/installation/fvh-backup.sh"
    ]


def test_sysusers_file_creates_the_service_user(tmp_path):
    sysusers = _tool("systemd-sysusers")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    conf = (SYSTEMD / "fvh.sysusers").read_text()
    result = _run(sysusers, f"--root={root}", "-", input=conf)
    assert result.returncode == 0, result.stderr
    (entry,) = [
        line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("fvh:")
    ]
    assert entry.split(":")[5:] == ["/var/lib/fvh", "/usr/sbin/nologin"]
    assert any(line.startswith("fvh:") for line in (root / "etc/group").read_text().splitlines())


# --- the backup script --------------------------------------------------------------------


def _backup_env(tmp_path: Path, stub_body: str) -> dict[str, str]:
    stub = tmp_path / "fvh-stub"
    stub.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls"\n{stub_body}\n')
    stub.chmod(0o755)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "FVH_BIN": str(stub),
        "FVH_BACKUP_DIR": str(tmp_path / "backups"),
        "FVH_BACKUP_KEEP_DAYS": "30",
    }


def _old_and_new_backups(tmp_path: Path) -> tuple[Path, Path, Path]:
    backups = tmp_path / "backups"
    backups.mkdir()
    old, recent, other = (
        backups / "fvh-20200101-031500.fvhbak",
        backups / "fvh-20200301-031500.fvhbak",
        backups / "notes.txt",
    )
    for path in (old, recent, other):
        path.write_text("x")
    month = 31 * 24 * 3600
    os.utime(old, (time.time() - 2 * month, time.time() - 2 * month))
    os.utime(other, (time.time() - 2 * month, time.time() - 2 * month))
    return old, recent, other


def test_backup_script_writes_a_dated_backup_and_prunes_old_ones(tmp_path):
    env = _backup_env(tmp_path, 'echo backup > "$2"')
    old, recent, other = _old_and_new_backups(tmp_path)
    result = _run("sh", INSTALL / "fvh-backup.sh", env=env)
    assert result.returncode == 0, result.stderr
    (call,) = (tmp_path / "calls").read_text().splitlines()
    command, target = call.split(" ", 1)
    assert command == "backup"
    assert re.fullmatch(rf"{tmp_path}/backups/fvh-\d{{8}}-\d{{6}}\.fvhbak", target), target
    assert Path(target).read_text() == "backup\n"
    assert Path(target).stat().st_mode & 0o077 == 0  # holds password hashes
    assert not old.exists()  # older than 30 days (by modification time)
    assert recent.exists()
    assert other.exists()  # only its own files are pruned


def test_backup_script_keeps_old_backups_when_the_backup_fails(tmp_path):
    env = _backup_env(tmp_path, 'echo partial > "$2"; exit 1')
    old, _recent, _other = _old_and_new_backups(tmp_path)
    result = _run("sh", INSTALL / "fvh-backup.sh", env=env)
    assert result.returncode == 1
    assert "backup failed" in result.stderr
    assert old.exists()
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [
        "fvh-20200101-031500.fvhbak",
        "fvh-20200301-031500.fvhbak",
        "notes.txt",
    ]  # no half-written file left behind


def test_backup_script_rejects_a_bad_retention(tmp_path):
    env = {**_backup_env(tmp_path, "true"), "FVH_BACKUP_KEEP_DAYS": "30d"}
    result = _run("sh", INSTALL / "fvh-backup.sh", env=env)
    assert result.returncode == 2
    assert not (tmp_path / "calls").exists()


# --- nginx --------------------------------------------------------------------------------


def _commented_block(text: str, first_line: str) -> tuple[str, str]:
    """The commented-out block whose first line is `first_line` (indentation ignored), up to
    the `}` with the same comment prefix: (as in the file, uncommented)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == first_line)
    prefix = re.match(r"\s*#\s*", lines[start])[0]
    end = next(i for i in range(start + 1, len(lines)) if lines[i].rstrip() == prefix + "}")
    raw = "\n".join(lines[start : end + 1])
    uncommented = "\n".join(line.replace("#", "", 1) for line in lines[start : end + 1])
    return raw, uncommented


def nginx_conf(folder: Path, site: str, *, extra: str = "") -> Path:
    """A main nginx.conf that includes `site` and keeps pid, logs and temp files in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site)
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
pid {folder}/nginx.pid;
error_log {folder}/error.log;
{extra}
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
"""
    )
    return conf


def nginx_test(conf: Path) -> None:
    nginx = _tool("nginx")
    if not SNAKEOIL.exists():
        pytest.fail(f"{SNAKEOIL} is missing: {PREREQS}", pytrace=False)
    result = _run(nginx, "-t", "-q", "-p", conf.parent, "-e", conf.parent / "error.log", "-c", conf)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_nginx_site_is_valid(tmp_path):
    nginx_test(nginx_conf(tmp_path, NGINX_SITE.read_text()))


def test_nginx_commented_variants_are_valid(tmp_path):
    text = NGINX_SITE.read_text()
    # Plain-HTTP API for terminals without TLS: uncommented where it stands.
    raw, block = _commented_block(text, "#location /fvh/api/ {")
    nginx_test(nginx_conf(tmp_path / "plain", text.replace(raw, block)))
    # FVH at the root of its own host name, instead of the sub-path server.
    _raw, root_server = _commented_block(text, "#server {")
    upstream = "upstream fvh { server 127.0.0.1:5000; }\n"
    nginx_test(nginx_conf(tmp_path / "root", upstream + root_server))
    # API and GUI as two services: the two locations in a server of their own.
    _raw, api = _commented_block(text, "#    location /fvh/api/ {")
    _raw, gui = _commented_block(text, "#    location /fvh/ {")
    assert "X-Forwarded-Prefix /fvh/api" in api
    nginx_test(nginx_conf(tmp_path / "split", f"server {{\n listen 8443;\n{api}\n{gui}\n}}\n"))


def test_nginx_sends_the_proxy_headers():
    text = NGINX_SITE.read_text()
    https = text[text.index("listen 443 ssl;") : text.index("# --- Variant")]
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"):
        assert re.search(rf"proxy_set_header {header}\s+\$", https), header
    assert "proxy_set_header X-Forwarded-Prefix /fvh;" in https
    assert re.search(r"location /fvh/api/ \{[^}]*proxy_read_timeout 10s;", https)
    assert re.search(r"location /fvh/api/ \{[^}]*proxy_next_upstream off;", https)
    assert "return 301 https://$host$request_uri;" in text
    assert "ssl_certificate     /etc/ssl/certs/ssl-cert-snakeoil.pem;" in https
    assert "ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;" in https


@pytest.fixture
def fvh_env(tmp_path: Path) -> dict[str, str]:
    """FVH as the systemd unit runs it: DATA_DIR for the data, proxy headers trusted."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("API_", "GUI_", "MYSQL_", "DATABASE_", "APP_", "BASE_URL"))
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        PROXY_FIX_HOPS="1",
        GUNICORN_WORKERS="1",
    )
    return env


def _fvh(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = _run(sys.executable, "-m", "fvh", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def served_fvh(tmp_path: Path, fvh_env: dict[str, str]) -> Iterator[int]:
    """`fvh db upgrade` + `fvh serve` (gunicorn, combined mode) on a free port."""
    workdir = tmp_path / "opt-fvh"
    workdir.mkdir()
    _fvh(fvh_env, workdir, "db", "upgrade")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fvh", "serve", "--port", str(port)],
        env=fvh_env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, process, "fvh serve")
        deadline = time.monotonic() + 30
        health = f"http://127.0.0.1:{port}{fvh_env.get('BASE_URL', '/').rstrip('/')}/api/health"
        while _get(health)[0] != 200:  # the workers have booted
            assert time.monotonic() < deadline, "fvh serve does not answer"
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the snakeoil certificate
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.parametrize("base_url", ["/", "/fvh"])
def test_nginx_serves_fvh_below_fvh(tmp_path, fvh_env, base_url, request):
    """The example site for real: nginx on free ports in front of `fvh serve`, with
    PROXY_FIX_HOPS=1 and BASE_URL left at / or set to the prefix (both work)."""
    fvh_env["BASE_URL"] = base_url
    served_fvh = request.getfixturevalue("served_fvh")
    nginx = _tool("nginx")
    if not SNAKEOIL.exists():
        pytest.fail(f"{SNAKEOIL} is missing: {PREREQS}", pytrace=False)
    http_port, https_port = _free_port(), _free_port()
    site = NGINX_SITE.read_text()
    site = re.sub(r"\n\s*listen \[::\]:\d+ ?[a-z ]*;", "", site)  # IPv6 may be missing here
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = site.replace("server 127.0.0.1:5000;", f"server 127.0.0.1:{served_fvh};")
    folder = tmp_path / "nginx"
    # One process (no workers that drop privileges and could not write the temp folders).
    conf = nginx_conf(folder, site, extra="master_process off; daemon off;")
    nginx_test(conf)
    process = subprocess.Popen(
        [nginx, "-p", folder, "-e", folder / "error.log", "-c", conf],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_port(https_port, process, "nginx")
        base = f"https://127.0.0.1:{https_port}"

        status, headers, body = _get(f"{base}/fvh/api/health")
        assert status == 200, body
        assert json.loads(body) == {"message": "FVH API läuft."}

        # Links the app builds carry the prefix nginx announced (X-Forwarded-Prefix).
        status, _headers, body = _get(f"{base}/fvh/api/openapi.json")
        assert status == 200
        assert "/fvh/api" in json.dumps(json.loads(body).get("servers", []))
        status, headers, _body = _get(f"{base}/fvh/")
        assert status in (302, 303), status
        login = headers["Location"]
        assert login.startswith(("/fvh/", f"{base}/fvh/")), login
        status, headers, body = _get(login if login.startswith("https:") else base + login)
        assert status == 200
        assert '"/fvh/' in body.decode()  # links and forms point below the prefix
        assert "Strict-Transport-Security" in headers  # FVH knows it is served over https
        cookie = headers["Set-Cookie"]
        assert "Secure" in cookie
        # Only BASE_URL scopes the session cookie to /fvh (other apps on the host don't get it).
        assert f"Path={base_url}" in cookie if base_url != "/" else "Path=/" in cookie

        assert _get(f"{base}/fvh")[1]["Location"].endswith("/fvh/")
        assert _get(f"{base}/somewhere-else")[0] == 404

        status, headers, _body = _get(f"http://127.0.0.1:{http_port}/fvh/api/health")
        assert status == 301
        assert headers["Location"] == "https://127.0.0.1/fvh/api/health"
    finally:
        process.send_signal(signal.SIGQUIT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    log = (folder / "error.log").read_text()
    assert "[error]" not in log and "[crit]" not in log and "[emerg]" not in log, log


# --- uWSGI and the WSGI entry points --------------------------------------------------------


def parse_uwsgi_ini(path: Path) -> list[tuple[str, str]]:
    """(key, value) of the [uwsgi] section, by uWSGI's rules: `;`/`#` lines are comments,
    keys may repeat, and there are no comments at the end of a line."""
    options, section = [], None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        assert "=" in line, f"{path.name}: {raw!r}"
        key, _, value = (part.strip() for part in line.partition("="))
        assert not re.search(r"\s[;#]", value), f"{path.name}: comment after a value: {raw!r}"
        options.append((key, value))
    assert section == "uwsgi"
    return options


def test_uwsgi_files_name_the_wsgi_entry_points():
    import fvh.wsgi

    for name, attribute in UWSGI.items():
        options = parse_uwsgi_ini(INSTALL / "uwsgi" / name)
        settings = dict(options)
        module, _, callable_name = settings["module"].partition(":")
        assert (module, callable_name) == ("fvh.wsgi", attribute)
        assert callable(getattr(fvh.wsgi, callable_name))
        for key, value in {
            "chdir": "/opt/fvh",
            "virtualenv": "/opt/fvh/.venv",
            "need-app": "true",
            "die-on-term": "true",
            "master": "true",
            "lazy-apps": "true",
            "strict": "true",
            "harakiri": "30",
        }.items():
            assert settings.get(key) == value, f"{name}: {key}"
        assert int(settings["processes"]) >= 2 and int(settings["threads"]) >= 2
        assert ("env", "DATA_DIR=/var/lib/fvh") in options
        port = "5001" if attribute == "gui" else "5000"  # as `fvh serve [api|gui]`
        assert settings["http-socket"] == f"127.0.0.1:{port}"


WSGI_CHECK = """
import json
from werkzeug.test import Client
import fvh.wsgi
print(repr(fvh.wsgi.api))
results = {}
for name, path in [("api", "/health"), ("application", "/api/health"), ("application", "/health"),
                   ("gui", "/"), ("gui", "/health")]:
    response = Client(getattr(fvh.wsgi, name)).get(path)
    results[f"{name} {path}"] = [response.status_code, response.get_data(as_text=True)[:200]]
print(json.dumps(results))
"""


def test_wsgi_entry_points_answer(tmp_path, fvh_env):
    workdir = tmp_path / "opt-fvh"
    workdir.mkdir()
    # Settings from .env in the working directory, as for the `fvh` command.
    data = tmp_path / "from-dotenv"
    (workdir / ".env").write_text(f"DATA_DIR={data}\n")
    env = {k: v for k, v in fvh_env.items() if k != "DATA_DIR"}
    _fvh(env, workdir, "db", "upgrade")  # creates the database and the secret in DATA_DIR
    assert (data / "fvh.sqlite3").exists()
    # DATA_DIR (database, secret) only from .env: the app would refuse to start without it.
    result = _run(sys.executable, "-c", WSGI_CHECK, env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    assert "not built yet" in first  # importing built nothing
    results = json.loads(second)
    assert results["api /health"] == [200, '{"message":"FVH API läuft."}\n']
    assert results["application /api/health"][0] == 200
    assert results["application /health"][0] == 404  # the API is under API_PREFIX
    assert results["gui /"][0] in (302, 303)
    assert results["gui /health"][0] == 404


def test_importing_fvh_wsgi_touches_nothing(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        # A database that does not exist: importing must not even notice.
        "DATABASE_URL": "mysql+mysqlconnector://nobody:x@127.0.0.1:1/none",
    }
    result = _run(
        sys.executable,
        "-c",
        "import fvh.wsgi as w; print(w.application, w.api, w.gui)",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("not built yet") == 3
    assert list(tmp_path.iterdir()) == []


SANDBOX = """
# The units' kernel-side sandbox, for the command in argv[1:] (run by Debian's python3, which
# has libseccomp's binding): MemoryDenyWriteExecute=yes (prctl PR_SET_MDWE),
# NoNewPrivileges=yes, SystemCallFilter=@system-service + SystemCallErrorNumber=EPERM and
# SystemCallArchitectures=native (the allow list expanded by systemd-analyze itself), and
# RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6.
import ctypes, errno, os, socket, subprocess, sys
import seccomp

if ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN
    sys.exit("no PR_SET_MDWE (Linux >= 6.3 needed)")
listing = subprocess.run(
    ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
).stdout
groups, current = {}, None
for line in listing.splitlines():
    if line.startswith("@"):
        current = groups.setdefault(line.split()[0], [])
    elif line.strip() and not line.strip().startswith("#") and current is not None:
        current.append(line.strip())

def expand(name):
    calls = set()
    for item in groups[name]:
        calls |= expand(item) if item.startswith("@") else {item}
    return calls

allowed = expand("@system-service") - {"socket"}
assert len(allowed) > 200, len(allowed)
rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))  # sets no_new_privs
for name in sorted(allowed):
    try:
        rules.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # a name this libseccomp does not know
for family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
    rules.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
rules.load()
os.execvp(sys.argv[1], sys.argv[1:])
"""


def test_fvh_runs_in_the_units_sandbox(tmp_path, fvh_env):
    """`fvh db upgrade`, `fvh serve` (gunicorn) and `fvh backup` under the units' system call
    filter, MemoryDenyWriteExecute and address families, as far as they work without systemd."""
    python = "/usr/bin/python3"
    probe = _run(
        python, "-c", "import ctypes, seccomp; assert ctypes.CDLL(None).prctl(66,0,0,0,0) >= 0"
    )
    if probe.returncode != 0:
        pytest.skip(f"needs Debian's python3-seccomp and Linux >= 6.3 ({PREREQS})")
    sandbox = tmp_path / "sandbox.py"
    sandbox.write_text(SANDBOX)
    fvh = str(Path(sys.executable).parent / "fvh")
    workdir = tmp_path / "opt-fvh"
    workdir.mkdir()
    env = {**fvh_env, "GUNICORN_WORKERS": "2"}

    def sandboxed(*args: str) -> list[str]:
        return [python, str(sandbox), fvh, *args]

    # The filter bites: netlink sockets and system calls outside @system-service (chroot,
    # which root may call otherwise) fail.
    check = (
        "import socket, os\n"
        "for call in (lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW),\n"
        "             lambda: os.chroot('/')):\n"
        "    try: call()\n"
        "    except PermissionError: print('refused')\n"
    )
    result = _run(python, sandbox, sys.executable, "-c", check)
    assert result.stdout.split() == ["refused", "refused"], result.stdout + result.stderr

    result = _run(*sandboxed("db", "upgrade"), env=env, cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    port = _free_port()
    process = subprocess.Popen(
        sandboxed("serve", "--port", str(port)),
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_port(port, process, "fvh serve")
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/api/health")[0] == 200
        assert _get(f"{base}/")[0] == 302
        assert _get(f"{base}/login")[0] == 200
        assert _get(f"{base}/api/openapi.json")[0] == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output and "not permitted" not in output, output
    backup = tmp_path / "data" / "backups" / "test.fvhbak"
    backup.parent.mkdir(parents=True)
    result = _run(*sandboxed("backup", str(backup)), env=env, cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert backup.stat().st_size > 0


def test_uwsgi_serves_the_entry_points(tmp_path, fvh_env):
    """The ini files with a real uWSGI: the optional extra (`pip install .[uwsgi]`) in this
    virtualenv, or the binary named by FVH_TEST_UWSGI. Skipped when there is neither."""
    binary = os.environ.get("FVH_TEST_UWSGI") or str(Path(sys.executable).parent / "uwsgi")
    if not os.access(binary, os.X_OK):
        pytest.skip("uWSGI is not installed (optional extra `uwsgi`)")
    workdir = tmp_path / "opt-fvh"
    workdir.mkdir()
    _fvh(fvh_env, workdir, "db", "upgrade")
    for name, attribute in UWSGI.items():
        port = _free_port()
        ini = (INSTALL / "uwsgi" / name).read_text()
        ini = ini.replace("chdir = /opt/fvh", f"chdir = {workdir}")
        ini = ini.replace("virtualenv = /opt/fvh/.venv", f"virtualenv = {sys.prefix}")
        ini = ini.replace("env = DATA_DIR=/var/lib/fvh", f"env = DATA_DIR={fvh_env['DATA_DIR']}")
        ini = re.sub(r"127\.0\.0\.1:500[01]", f"127.0.0.1:{port}", ini)
        (tmp_path / name).write_text(ini)
        process = subprocess.Popen(
            [binary, "--ini", tmp_path / name],
            env=fvh_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_for_port(port, process, f"uwsgi {name}")
            path = {"application": "/api/health", "api": "/health", "gui": "/"}[attribute]
            deadline = time.monotonic() + 20
            while (status := _get(f"http://127.0.0.1:{port}{path}")[0]) == 502:
                assert time.monotonic() < deadline  # workers still starting
                time.sleep(0.2)
            assert status == (302 if attribute == "gui" else 200), name
        finally:
            process.terminate()  # die-on-term: SIGTERM stops uWSGI
            output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        assert "unknown" not in output.lower() and "error" not in output.lower(), output
