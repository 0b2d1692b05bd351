"""`fvh doctor`: checks of configuration, database, migrations, SMTP and the ledger.

Each finding says what is wrong and what to do about it; nobody is on call at a fire
station, so the output has to be enough to fix things.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from fvh.config import DEFAULT_SECRET, Config
from fvh.core import account_links, ledger, members, passwords
from fvh.core.errors import ValidationError
from fvh.db import Database, migrate
from fvh.db.models import Member

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass(frozen=True)
class Finding:
    level: str
    topic: str
    message: str
    fix: str = ""


def check_config(config: Config) -> list[Finding]:
    findings = []
    secret = config.app_secret
    if not secret or secret == DEFAULT_SECRET or len(secret) < 16:
        findings.append(
            Finding(
                ERROR,
                "config",
                "APP_SECRET is missing or weak.",
                "Set a long random APP_SECRET in .env or run `fvh db upgrade`.",
            )
        )
    else:
        findings.append(Finding(OK, "config", "APP_SECRET is set."))
    if not passwords.is_strong_method(config.password_hash_method):
        findings.append(
            Finding(
                ERROR,
                "config",
                "PASSWORD_HASH_METHOD is too weak.",
                "Use pbkdf2:sha256:600000 or scrypt:131072:8:1.",
            )
        )
    if config.debug:
        findings.append(
            Finding(
                WARNING,
                "config",
                "Debug mode is on.",
                "Remove API_DEBUG/GUI_DEBUG unless this machine is private.",
            )
        )
    if config.base_url not in ("", "/") and not config.base_url.startswith("/"):
        findings.append(
            Finding(
                ERROR,
                "config",
                f"BASE_URL {config.base_url!r} is not a path.",
                "Use a path such as /fvh.",
            )
        )
    findings.extend(_check_public_url(config))
    return findings


def _check_public_url(config: Config) -> list[Finding]:
    fix = (
        "Set PUBLIC_URL to the GUI's address as members reach it, e.g. https://station.example/fvh."
    )
    if not config.public_url.strip():
        message = "PUBLIC_URL is not set: password reset and e-mail changes by link are refused."
        return [Finding(WARNING, "config", message, fix)]
    try:
        account_links.check_public_url(config.public_url)
    except ValidationError as exc:
        return [Finding(ERROR, "config", exc.message, fix)]
    return []


def check_database(database: Database) -> list[Finding]:
    try:
        database.ping()
    except SQLAlchemyError as exc:
        return [
            Finding(
                ERROR,
                "database",
                f"Cannot reach the database: {exc.__class__.__name__}.",
                "Check DATABASE_URL / MYSQL_* and that the server runs.",
            )
        ]
    findings = [Finding(OK, "database", f"Connected ({database.engine.url.get_backend_name()}).")]
    if not migrate.is_up_to_date(database.engine):
        findings.append(
            Finding(ERROR, "migrations", "The schema is not up to date.", "Run `fvh db upgrade`.")
        )
        return findings
    findings.append(Finding(OK, "migrations", "The schema is up to date."))
    with database.session() as session:
        mismatches = ledger.check(session)
        admins = members.count_admins(session)
        bootstrap_pending = session.scalar(
            select(func.count()).where(
                Member.code == members.BOOTSTRAP_ADMIN_CODE, Member.must_change_password.is_(True)
            )
        )
    if mismatches:
        codes = ledger.describe(mismatches)
        findings.append(
            Finding(
                ERROR,
                "ledger",
                f"{len(mismatches)} balance(s) differ from their journal: {codes}.",
                "Run `fvh ledger check` and restore from a backup if needed.",
            )
        )
    else:
        findings.append(Finding(OK, "ledger", "Every balance equals its journal."))
    if admins == 0:
        findings.append(
            Finding(ERROR, "members", "There is no administrator.", "Run `fvh create-admin`.")
        )
    if bootstrap_pending:
        findings.append(
            Finding(
                WARNING,
                "members",
                "The bootstrap admin 9999999999 still has its first password.",
                "Log in and set a new password.",
            )
        )
    return findings


def check_smtp(config: Config, timeout: float = 5.0) -> list[Finding]:
    if not config.smtp_host:
        return [
            Finding(
                WARNING,
                "smtp",
                "No SMTP server configured: e-mails are not sent.",
                "Set SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_SENDER.",
            )
        ]
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.smtp_user:
                smtp.login(config.smtp_user, config.smtp_password)
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        return [
            Finding(
                ERROR,
                "smtp",
                f"SMTP {config.smtp_host}:{config.smtp_port} failed: {exc.__class__.__name__}.",
                "Check SMTP_HOST/SMTP_PORT/credentials and the firewall.",
            )
        ]
    return [Finding(OK, "smtp", f"SMTP {config.smtp_host}:{config.smtp_port} answers.")]


def diagnose(config: Config, database: Database) -> list[Finding]:
    return [*check_config(config), *check_database(database), *check_smtp(config)]
