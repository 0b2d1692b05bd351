"""Settings from the environment and an optional `.env` file.

Every variable is documented in `.env.dist`; a test keeps the two in step.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dotenv import dotenv_values

DEFAULT_SECRET = "change-me"  # noqa: S105 - the placeholder that production refuses
SECRET_FILE_NAME = "app_secret"  # noqa: S105 - a file name, not a secret


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    """Process settings. Business settings (amounts, minimum balance) live in the database."""

    database_url: str = ""
    mysql_pool_size: int = 10
    db_lock_timeout: float = 2.0  # seconds; see fvh.db.Timeouts
    db_statement_timeout: float = 5.0
    app_secret: str = ""
    data_dir: str = "data"
    api_prefix: str = "/api"
    api_host: str = "127.0.0.1"
    api_port: int = 5000
    api_debug: bool = False
    gui_host: str = "127.0.0.1"
    gui_port: int = 5001
    gui_debug: bool = False
    base_url: str = "/"
    static_url_prefix: str = ""
    timezone: str = "Europe/Berlin"  # times are stored in UTC and shown in this zone
    session_cookie_secure: bool = False  # force the Secure flag even without HTTPS detection
    log_level: str = "INFO"
    log_format: str = "text"
    proxy_fix_hops: int = 0
    metrics_allow_ips: str = ""
    password_hash_method: str = "pbkdf2:sha256:600000"  # noqa: S105 - a method, not a secret
    idempotency_ttl_hours: int = 48
    api_max_body_bytes: int = 16 * 1024
    api_list_limit: int = 1000
    api_list_max_limit: int = 10000
    gunicorn_workers: int = 0  # 0 = derived from the CPU count
    # One request per process at a time (measured in BENCHMARKS.md); "gthread" + threads > 1
    # for a server reached without a buffering proxy in front.
    gunicorn_worker_class: str = "sync"
    gunicorn_threads: int = 1  # threads per worker process (gthread)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender: str = ""
    smtp_tls: str = "starttls"  # starttls, ssl or none
    smtp_timeout: int = 10
    responsible_email: str = ""
    # Absolute address of the GUI as members reach it; links in e-mails are built from it.
    public_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'fvh.sqlite3'}"

    @property
    def debug(self) -> bool:
        return self.api_debug or self.gui_debug


def _mysql_url(env: Mapping[str, str]) -> str:
    user = quote(env.get("MYSQL_USER", ""), safe="")
    password = quote(env.get("MYSQL_PASSWORD", ""), safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = env["MYSQL_HOST"]
    port = env.get("MYSQL_PORT") or "3306"
    return f"mysql+mysqlconnector://{auth}{host}:{port}/{env.get('MYSQL_DB', '')}?charset=utf8mb4"


def load_config(overrides: Mapping[str, Any] | None = None, *, env_file: bool = True) -> Config:
    """Build the settings from `.env` (if present), the environment and explicit overrides.

    Overrides use the field names in lower case (`database_url`) or the variable names
    (`DATABASE_URL`); they win over the environment, which wins over `.env`.
    """
    merged: dict[str, str | None] = dict(dotenv_values(Path.cwd() / ".env")) if env_file else {}
    merged.update(os.environ)  # the real environment wins over the file
    env = {k: v for k, v in merged.items() if v}
    values: dict[str, Any] = {}
    for f in fields(Config):
        if f.name == "extra":
            continue
        raw = env.get(f.name.upper())
        if raw is None:
            continue
        values[f.name] = _convert(f.type, raw)
    if "database_url" not in values and env.get("MYSQL_HOST"):
        values["database_url"] = _mysql_url(env)
    known = {f.name for f in fields(Config)}
    extra: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        name = key.lower()
        if name in known and name != "extra":
            values[name] = value
        else:
            extra[key] = value
    if not values.get("app_secret"):
        secret_file = Path(values.get("data_dir", Config.data_dir)) / SECRET_FILE_NAME
        if secret_file.is_file():
            values["app_secret"] = secret_file.read_text().strip()
    return Config(**values, extra=extra)


def _convert(type_name: Any, raw: str) -> Any:
    if type_name in (bool, "bool"):
        return _bool(raw)
    if type_name in (int, "int"):
        return int(raw)
    if type_name in (float, "float"):
        return float(raw)
    return raw


def ensure_secret_file(config: Config) -> Config:
    """Without APP_SECRET, create a random one in DATA_DIR (readable by the owner only)."""
    if config.app_secret:
        return config
    path = Path(config.data_dir) / SECRET_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    return replace(config, app_secret=path.read_text().strip())
