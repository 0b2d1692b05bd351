"""The `fvh` command: operators' door to the domain core (scriptable, one transaction each)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click
from sqlalchemy.orm import Session

from fvh.config import Config, ensure_secret_file, load_config
from fvh.core import audit, keys, ledger, members, passwords, system_settings, tokens
from fvh.core.errors import DomainError
from fvh.core.money import format_cents, parse_amount
from fvh.db import Database, migrate
from fvh.http.security import InsecureConfiguration, check_password_method, check_secret

CLI_ACTOR = audit.Actor.system("CLI")
AMOUNT_LOCALES = ("de", "en")  # the languages of the GUI, whose amounts `book` reads alike


@dataclass
class Context:
    config: Config
    _database: Database | None = field(default=None, init=False)

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = Database(
                self.config.resolved_database_url, pool_size=self.config.mysql_pool_size
            )
        return self._database

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; a domain error becomes a clear message and exit code 1."""
        _require_schema(self)
        try:
            with self.database.session() as session:
                yield session
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc


pass_ctx = click.make_pass_decorator(Context)


@click.group()
@click.version_option(package_name="fvh")
@click.pass_context
def main(ctx: click.Context) -> None:
    """FVH – Feuerwehr-Versorgungs-Helfer: accounts, ledger and terminal API."""
    ctx.obj = Context(load_config())
    passwords.configure(ctx.obj.config.password_hash_method)
    ctx.call_on_close(ctx.obj.close)


# --- database -----------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create or migrate the schema to the newest version."""
    migrate.upgrade(ctx.database.engine)
    click.echo(f"Database is at revision {migrate.current_revision(ctx.database.engine)}.")
    ctx.config = ensure_secret_file(ctx.config)
    _bootstrap_admin(ctx)


def _bootstrap_admin(ctx: Context) -> None:
    with ctx.session() as session:
        password = members.ensure_bootstrap_admin(session)
    if password:
        click.echo("")
        click.echo("First login (shown only once; you must set a new password at login):")
        click.echo(f"  code:     {members.BOOTSTRAP_ADMIN_CODE}")
        click.echo(f"  password: {password}")
        click.echo("")


def _require_schema(ctx: Context) -> None:
    if not migrate.is_up_to_date(ctx.database.engine):
        raise click.ClickException("The database schema is not up to date: run `fvh db upgrade`.")


# --- members ------------------------------------------------------------------------------


@main.command("create-admin")
@click.option("--code", help="10 digits; generated when omitted.")
@click.option("--password", help="Asked for when omitted.")
@click.option("--first-name", default="Admin", show_default=True)
@click.option("--last-name", default="FVH", show_default=True)
@click.option("--email")
@pass_ctx
def create_admin(
    ctx: Context,
    code: str | None,
    password: str | None,
    first_name: str,
    last_name: str,
    email: str | None,
) -> None:
    """Create an administrator (interactive unless --password is given)."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with ctx.session() as session:
        member = members.create(
            session,
            members.NewMember(
                code=code,
                first_name=first_name,
                last_name=last_name,
                email=email,
                password=password,
                is_admin=True,
            ),
            CLI_ACTOR,
        )
        click.echo(f"Admin {member.full_name} created with code {member.code}.")


@main.group("member")
def member_group() -> None:
    """Members."""


@member_group.command("add")
@click.argument("code")
@click.argument("first_name")
@click.argument("last_name")
@click.option("--email")
@click.option("--password")
@click.option("--admin", is_flag=True)
@pass_ctx
def member_add(
    ctx: Context,
    code: str,
    first_name: str,
    last_name: str,
    email: str | None,
    password: str | None,
    admin: bool,
) -> None:
    """Add a member. CODE is 10 digits, or `auto` for a generated one."""
    with ctx.session() as session:
        member = members.create(
            session,
            members.NewMember(
                code=None if code == "auto" else code,
                first_name=first_name,
                last_name=last_name,
                email=email,
                password=password,
                is_admin=admin,
            ),
            CLI_ACTOR,
        )
        click.echo(f"Member {member.full_name} created with code {member.code}.")


@member_group.command("list")
@pass_ctx
def member_list(ctx: Context) -> None:
    """List members with their balances."""
    with ctx.session() as session:
        system = system_settings.load(session)
        for m in members.list_all(session):
            flags = "".join([" [admin]" if m.is_admin else "", " [locked]" if m.locked else ""])
            balance = format_cents(m.balance_cents, system.currency, system.decimals)
            click.echo(f"{m.code}  {m.last_name}, {m.first_name}  {balance}{flags}")


def _set_locked(ctx: Context, code: str, locked: bool) -> None:
    with ctx.session() as session:
        member = members.get_by_code(session, code)
        members.set_locked(session, member, locked, CLI_ACTOR)
        click.echo(f"{member.full_name} is {'locked' if locked else 'unlocked'}.")


@member_group.command("lock")
@click.argument("code")
@pass_ctx
def member_lock(ctx: Context, code: str) -> None:
    """Lock a member: terminals refuse their bookings, they can't log in."""
    _set_locked(ctx, code, True)


@member_group.command("unlock")
@click.argument("code")
@pass_ctx
def member_unlock(ctx: Context, code: str) -> None:
    """Unlock a member."""
    _set_locked(ctx, code, False)


# --- tokens, bookings, keys ---------------------------------------------------------------


@main.group("token")
def token_group() -> None:
    """NFC tokens."""


@token_group.command("add")
@click.argument("code")
@click.argument("hex_data", metavar="HEX")
@click.option("--name", default="", help="e.g. 'Schlüsselanhänger'.")
@pass_ctx
def token_add(ctx: Context, code: str, hex_data: str, name: str) -> None:
    """Assign the NFC token HEX (e.g. 04:A2:2B:1C) to the member CODE."""
    with ctx.session() as session:
        member = members.get_by_code(session, code)
        token = tokens.add(session, member, tokens.parse_hex(hex_data), name, CLI_ACTOR)
        click.echo(f"Token {tokens.to_hex(token.data)} assigned to {member.full_name}.")


@main.command("book", context_settings={"ignore_unknown_options": True})
@click.argument("code")
@click.argument("amount")
@click.argument("description")
@click.option(
    "--locale",
    type=click.Choice(list(AMOUNT_LOCALES)),
    default="de",
    show_default=True,
    help="How AMOUNT is written: de 1.000,50 or en 1,000.50.",
)
@pass_ctx
def book(ctx: Context, code: str, amount: str, description: str, locale: str) -> None:
    """Book AMOUNT (e.g. 10 or -2,50) for CODE: an admin correction, the floor does not apply.

    AMOUNT is read as the GUI reads it; an ambiguous "1.000" is refused with both readings.
    """
    with ctx.session() as session:
        system = system_settings.load(session)
        cents = parse_amount(
            amount, locale=locale, currency=system.currency, decimals=system.decimals
        )
        member = members.get_by_code(session, code)
        booking = ledger.book(session, member.id, cents, description, CLI_ACTOR)
        balance = format_cents(booking.balance_cents, system.currency, system.decimals, locale)
        click.echo(f"Booked for {member.full_name}; balance now {balance}.")


@main.group("api-key")
def api_key_group() -> None:
    """API keys for terminals and integrations."""


@api_key_group.command("create")
@click.argument("name")
@click.option(
    "--scope", type=click.Choice(list(keys.SCOPES)), default=keys.SCOPE_TERMINAL, show_default=True
)
@pass_ctx
def api_key_create(ctx: Context, name: str, scope: str) -> None:
    """Create a key for the API client NAME (created if new). Prints the key once."""
    with ctx.session() as session:
        client = keys.find_client(session, name) or keys.create_client(session, name, CLI_ACTOR)
        _row, plaintext = keys.create_key(session, client, CLI_ACTOR, scope=scope)
    click.echo(f"New {scope} key for {name!r} (shown only this once):", err=True)
    click.echo(plaintext)


# --- ledger -------------------------------------------------------------------------------


@main.group("ledger")
def ledger_group() -> None:
    """Ledger consistency."""


@ledger_group.command("check")
@pass_ctx
def ledger_check(ctx: Context) -> None:
    """Recompute every balance from the journal; exit 1 on any mismatch."""
    with ctx.session() as session:
        mismatches = ledger.check(session)
    for m in mismatches:
        click.echo(
            f"MISMATCH {m.code}: stored balance {m.balance_cents} cents, "
            f"journal sum {m.journal_cents} cents",
            err=True,
        )
    if mismatches:
        sys.exit(1)
    click.echo("Ledger OK: every balance equals its journal sum.")


# --- serving ------------------------------------------------------------------------------


@main.command("serve")
@click.argument("part", required=False, type=click.Choice(["api", "gui"]))
@click.option("--host")
@click.option("--port", type=int)
@pass_ctx
def serve(ctx: Context, part: str | None, host: str | None, port: int | None) -> None:
    """Run GUI and API together, or only PART (api on API_HOST:API_PORT, gui on GUI_*)."""
    from fvh.ops.serving import run

    _require_schema(ctx)
    # No secret is made up here: `fvh db upgrade` (the install step) creates one when unset.
    try:  # refuse here, not in every worker after "listening" was printed
        check_secret(ctx.config)
        check_password_method(ctx.config)
    except InsecureConfiguration as exc:
        raise click.ClickException(str(exc)) from exc
    _bootstrap_admin(ctx)
    run(ctx.config, part, host=host, port=port)


@main.command("doctor")
@pass_ctx
def doctor(ctx: Context) -> None:
    """Check configuration, database, migrations, SMTP and the ledger; exit 1 on errors."""
    from fvh.ops.doctor import ERROR, diagnose

    findings = diagnose(ctx.config, ctx.database)
    for finding in findings:
        line = f"[{finding.level.upper():7}] {finding.topic}: {finding.message}"
        click.echo(line + (f"\n          → {finding.fix}" if finding.fix else ""))
    if any(f.level == ERROR for f in findings):
        sys.exit(1)


# --- backup, restore, legacy import -------------------------------------------------------


@contextmanager
def _backup_errors() -> Iterator[None]:
    """Backup and database errors become a message and exit code 1."""
    from sqlalchemy.exc import DBAPIError

    from fvh.ops.backup import BackupError

    try:
        yield
    except BackupError as exc:
        raise click.ClickException(exc.message) from exc
    except DBAPIError as exc:
        raise click.ClickException(f"Database error (nothing was changed): {exc.orig}") from exc


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@pass_ctx
def backup_command(ctx: Context, file: str) -> None:
    """Write a consistent snapshot of the whole database to FILE (gzip'ed JSON lines)."""
    from fvh.ops import backup

    with _backup_errors():
        header = backup.write_backup(ctx.database.engine, file)
    click.echo(
        f"Backup written to {file}: {header.total_rows} rows in {len(header.tables)} tables, "
        f"schema revision {header.revision}."
    )


@main.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ctx
def restore_command(ctx: Context, file: str) -> None:
    """Load the backup FILE into an empty or freshly installed database.

    Fresh means nothing but the untouched bootstrap admin that `fvh db upgrade` made; any
    other data is refused. The schema is created when missing.
    """
    from fvh.ops import backup

    with _backup_errors():
        header = backup.restore_backup(ctx.database.engine, file)
    click.echo(
        f"Restored {header.total_rows} rows in {len(header.tables)} tables from {file} "
        f"(made {header.created_at} by FVH {header.fvh_version} on {header.backend}). "
        "Ledger OK."
    )


@main.group("mail")
def mail_group() -> None:
    """The e-mail outbox."""


@mail_group.command("send")
@pass_ctx
def mail_send(ctx: Context) -> None:
    """Send the e-mails that are due (for cron; the server also sends them by itself)."""
    from fvh.ops.mail import backlog, send_due, smtp_settings

    settings = smtp_settings(ctx.config)
    if not settings.configured:
        raise click.ClickException("No SMTP server configured (SMTP_HOST, SMTP_SENDER).")
    report = send_due(ctx.database, settings, limit=1000)
    click.echo(
        f"sent {report.sent}, failed {report.failed} (retried later), "
        f"{backlog(ctx.database)} still queued."
    )


@main.command("import-legacy")
@click.argument("url")
@click.option(
    "--key-scope",
    type=click.Choice(list(keys.SCOPES)),
    default=keys.SCOPE_TERMINAL,
    show_default=True,
    help="Scope of the imported API keys.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be imported; write nothing.")
@click.option(
    "--timezone",
    "zone",
    help="Zone of the legacy server's times, e.g. Europe/Berlin (default: this machine's).",
)
@pass_ctx
def import_legacy_command(
    ctx: Context, url: str, key_scope: str, dry_run: bool, zone: str | None
) -> None:
    """Import the original FVH's MySQL/MariaDB database at URL (safe to run again)."""
    from fvh.ops import legacy

    _require_schema(ctx)
    session = ctx.database.sessionmaker()
    try:
        report = legacy.import_legacy(session, url, key_scope=key_scope, zone=zone)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from exc
    finally:
        session.close()
    for line in report.lines():
        click.echo(line)
    if dry_run:
        click.echo("Dry run: nothing was written.")


@main.command("maintenance")
@pass_ctx
def maintenance(ctx: Context) -> None:
    """Delete old login attempts, expired idempotency records and old sent mails."""
    from fvh.ops.maintenance import run as run_maintenance

    purged = run_maintenance(ctx.database, ctx.config)
    click.echo(
        f"Deleted {purged.login_attempts} login attempts, {purged.idempotency_records} "
        f"idempotency records, {purged.sent_mails} sent mails."
    )
