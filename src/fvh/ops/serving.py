"""Running the app: gunicorn in production, Flask's server only in debug mode."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import tempfile
from typing import Any

import click
from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker
from sqlalchemy.engine import make_url

from fvh.config import Config
from fvh.http import context, limits

# The path without its query string: reset links carry one-time tokens there.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" rid=%({x-request-id}o)s'


class AccessLogger(glogging.Logger):
    """gunicorn's logger, building only the fields of ACCESS_LOG_FORMAT for each line.

    gunicorn's own `atoms` copies every request header, response header and environ entry
    into the line's fields, which cost a terminal request about a tenth of a millisecond.
    The line is formatted here and logged as it is: gunicorn would wrap the fields in a
    case-insensitive mapping first, for formats that name headers in any case.
    """

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(ACCESS_LOG_FORMAT % self.atoms(resp, req, environ, request_time))
        except Exception:
            self.exception("access log line failed")

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict[str, Any]:
        status = resp.status
        sent = getattr(resp, "sent", None)
        request_id = next(
            (value for name, value in resp.headers if name.lower() == "x-request-id"), "-"
        )
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "H": environ.get("SERVER_PROTOCOL"),
            "s": status.split(None, 1)[0] if isinstance(status, str) else status,
            "b": str(sent) if sent is not None else "-",
            "M": request_time.seconds * 1000 + request_time.microseconds // 1000,
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "{x-request-id}o": request_id,
        }


def default_workers(config: Config) -> int:
    """GUNICORN_WORKERS, else CPUs + 1 (at most 8); as many as CPUs (at least 2) on SQLite.

    A tap is CPU work in the worker and the database on the same cores, and on SQLite a
    preempted writer holds everybody up; the counts were measured (BENCHMARKS.md).
    """
    if config.gunicorn_workers > 0:
        return config.gunicorn_workers
    cpus = multiprocessing.cpu_count()
    if make_url(config.resolved_database_url).get_backend_name() == "sqlite":
        return min(max(cpus, 2), 8)  # two at least: a slow page does not stop the terminals
    return min(cpus + 1, 8)


def _child_exit(_server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared metrics folder."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _post_worker_init(worker: Any) -> None:
    """Each worker sends the outbox in a background thread (claims keep them apart)."""
    start_outbox_worker(worker.wsgi)


def start_outbox_worker(app: Any) -> None:
    """Background threads of a server process: the mail outbox and hourly housekeeping."""
    from fvh.ops.mail import OutboxWorker, smtp_settings
    from fvh.ops.maintenance import MaintenanceThread

    database, config = context.database(app), context.app_config(app)
    settings = smtp_settings(config)
    if settings.configured:
        OutboxWorker(database, settings).start()
    MaintenanceThread(database, config).start()


WORKER_CLASSES = ("sync", "gthread")

# gunicorn's limits of a request's head, set above FVH's own (fvh.http.limits) so that the app
# answers those in its doors' formats; the line's limit is the most gunicorn allows.
LIMIT_REQUEST_LINE = 8190
LIMIT_REQUEST_FIELD_SIZE = 4 * limits.MAX_HEADER_FIELD
LIMIT_REQUEST_FIELDS = 2 * limits.MAX_HEADER_FIELDS

# What gunicorn refuses while it reads a request's head, and FVH's status for it.
_REFUSED_HEADS: dict[type[BaseException], int] = {
    http_errors.LimitRequestLine: 414,
    http_errors.LimitRequestHeaders: 431,
    http_errors.InvalidRequestLine: 400,
    http_errors.InvalidRequestMethod: 400,
    http_errors.InvalidHTTPVersion: 400,
    http_errors.InvalidHeader: 400,
    http_errors.InvalidHeaderName: 400,
    http_errors.ObsoleteFolding: 400,
    http_errors.InvalidChunkSize: 400,
    http_errors.ChunkMissingTerminator: 400,
    http_errors.InvalidChunkExtension: 400,
}
_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class RefusalsInDoorFormat:
    """A worker that answers a request gunicorn refuses to parse as FVH answers its own
    refusals: JSON on API paths, plain text on GUI paths (gunicorn's page is HTML).

    When gunicorn gave up before it knew the path (a line beyond its limit, a bad header),
    the server's mode decides: only a GUI-only server answers plain text.
    """

    app: FvhGunicorn
    log: glogging.Logger

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status = next((s for cls, s in _REFUSED_HEADS.items() if isinstance(exc, cls)), None)
        if status is None:
            super().handle_error(req, client, addr, exc)  # type: ignore[misc]  # gunicorn's own
            return
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        path = getattr(req, "path", None) or getattr(getattr(exc, "req", None), "path", None)
        body, content_type = limits.refusal(status, as_json=self.app.answers_json(path))
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nConnection: close\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except OSError:
            self.log.debug("Failed to send the refusal.")


class FvhSyncWorker(RefusalsInDoorFormat, SyncWorker):
    pass


class FvhThreadWorker(RefusalsInDoorFormat, ThreadWorker):
    pass


def memory_dir() -> str | None:
    """A folder in memory (/dev/shm) for the files workers write on every request, if the
    system has one; None: the temp dir, on the disk.

    A sync worker touches its heartbeat file (which tells the master it lives) before every
    connection it waits for, and the metrics live in memory-mapped files: on a disk each is
    a metadata or page write that ext4 journals and writes back, and that waits when the
    disk is busy (gunicorn's documentation recommends memory for the heartbeat too).
    """
    shm = "/dev/shm"  # noqa: S108 - gunicorn and tempfile make private files there
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


METRICS_DIR_PREFIX = "fvh-metrics-"
_METRICS_DIR = re.compile(rf"{METRICS_DIR_PREFIX}(\d+)-\w+")


def _process_lives(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_metrics_dirs(parent: str) -> list[str]:
    """Delete the metrics folders of servers that died without removing theirs (kill -9);
    return their paths. A folder names its server's process id (`run`): one whose process
    is gone is stale; a running server's folder is never touched."""
    removed = []
    with os.scandir(parent) as entries:
        for entry in entries:
            match = _METRICS_DIR.fullmatch(entry.name)
            if match is None or not entry.is_dir(follow_symlinks=False):
                continue
            if _process_lives(int(match.group(1))):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


def gunicorn_options(config: Config, bind: str) -> dict[str, Any]:
    if config.gunicorn_worker_class not in WORKER_CLASSES:
        raise click.ClickException(
            f"GUNICORN_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}, "
            f"not {config.gunicorn_worker_class!r}."
        )
    return {
        "child_exit": _child_exit,
        "post_worker_init": _post_worker_init,
        "bind": bind,
        "workers": default_workers(config),
        "worker_class": (
            FvhThreadWorker
            if config.gunicorn_worker_class == "gthread" or config.gunicorn_threads > 1
            else FvhSyncWorker
        ),
        "threads": max(1, config.gunicorn_threads),
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "timeout": 30,
        "worker_tmp_dir": memory_dir(),
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": AccessLogger,
        "loglevel": config.log_level.lower(),
    }


class FvhGunicorn(BaseApplication):
    """gunicorn with our settings; each worker builds its own app (no connections shared)."""

    def __init__(self, config: Config, mode: str, options: dict[str, Any]) -> None:
        self.fvh_config = config
        self.mode = mode
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from fvh.app import create_app

        return create_app(self.fvh_config, mode=self.mode)

    def answers_json(self, path: str | None) -> bool:
        """Whether a refusal of a request for `path` (None: unknown) is the API's JSON."""
        if self.mode != "combined" or path is None:
            return self.mode != "gui"
        prefix = "/" + self.fvh_config.api_prefix.strip("/")
        return path == prefix or path.startswith(prefix + "/")


def run(
    config: Config, part: str | None, *, host: str | None = None, port: int | None = None
) -> None:
    """Serve `part` ("api", "gui" or None for both) until interrupted."""
    if part == "gui":
        mode, host, port, debug = (
            "gui",
            host or config.gui_host,
            port or config.gui_port,
            config.gui_debug,
        )
    else:
        mode = "api" if part == "api" else "combined"
        host, port = host or config.api_host, port or config.api_port
        debug = config.api_debug if part == "api" else config.debug
    url = f"http://{host}:{port}/"
    click.echo(f"FVH ({mode}) listening on {url}")
    if mode == "combined":
        click.echo(f"  GUI: {url}   API: {url.rstrip('/')}{config.api_prefix}/")
    if debug:
        from fvh.app import create_app

        app = create_app(config, mode=mode)
        start_outbox_worker(app)
        app.run(host=host, port=port, debug=True, use_reloader=False)
        return
    # Workers share their metrics through files in a folder that lives as long as the server;
    # a killed server's folder stays behind and is removed by the next start.
    parent = memory_dir() or tempfile.gettempdir()
    remove_stale_metrics_dirs(parent)
    prefix = f"{METRICS_DIR_PREFIX}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        FvhGunicorn(config, mode, gunicorn_options(config, f"{host}:{port}")).run()
