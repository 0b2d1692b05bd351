"""Import from the original FVH's MySQL/MariaDB database (schema: docs of `fvh import-legacy`).

Everything goes into the caller's one transaction, which the door commits (or rolls back
for a dry run). A second run adds nothing and changes nothing:

- members are matched by code, tokens by their bytes, API clients by name, keys by hash;
  what is present already is never modified;
- a member's legacy journal is imported as a whole, once: its rows are booked by the
  system actor labelled `IMPORT_LABEL`, and a member who already has such rows is skipped;
- the default amount is only set while FVH has no stored value for it.

The legacy server stored local time; journal and token times are converted to UTC with the
machine's local zone, or with the zone given explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, create_engine, func, insert, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from werkzeug.security import check_password_hash

from fvh import audit, keys, ledger, members, tokens
from fvh import settings as settings_mod
from fvh.errors import DomainError, DuplicateCode, DuplicateEmail, ValidationError
from fvh.models import ApiClient, ApiKey, Member, Setting, Transaction
from fvh.money import MAX_ABS_CENTS

IMPORT_LABEL = "Legacy-Import"
ACTOR = audit.Actor.system(IMPORT_LABEL)
LEGACY_DEFAULT_PASSWORD = "changeme"  # noqa: S105 - the original's well-known default
LEGACY_DEFAULT_ADMINS = ("9876543210", "9999999999")
# Legacy notification types and the member flag each one maps to (when FVH has it).
NOTIFICATION_FLAGS = {
    "NEUE_TRANSAKTION": "notify_bookings",
    "SALDO_NULL": "notify_zero",
    "THRESHOLD_REMINDER": "notify_low_balance",
}
_CODE_RE = re.compile(r"^\d{10}$")
# werkzeug's `method$salt$hash` for the methods it still verifies.
_HASH_RE = re.compile(r"^(scrypt|pbkdf2)(:[\w]+)*\$[^$]+\$[0-9a-f]+$")


class LegacyImportError(DomainError):
    """The legacy database can't be read or imported; nothing was written."""


@dataclass
class Count:
    imported: int = 0
    present: int = 0
    skipped: int = 0


KINDS = ("members", "journal rows", "tokens", "API clients", "API keys", "settings")


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    source: str
    zone: str
    counts: dict[str, Count] = field(default_factory=lambda: {k: Count() for k in KINDS})
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.imported for c in self.counts.values())

    def summary(self) -> dict[str, dict[str, int]]:
        return {k: vars(c).copy() for k, c in self.counts.items()}

    def lines(self) -> list[str]:
        out = [f"Legacy import from {self.source}"]
        for kind, count in self.counts.items():
            out.append(
                f"  {kind + ':':14} {count.imported:6} imported, {count.present:6} already "
                f"present, {count.skipped:6} skipped"
            )
        out.append(f"Times: the legacy server's local time, converted to UTC using {self.zone}.")
        out.extend(self.notes)
        out.extend(f"Not imported: {line}" for line in self.not_imported)
        out.extend(f"WARNING: {line}" for line in self.warnings)
        return out


# --- the legacy side -------------------------------------------------------------------------


def legacy_url(url: str) -> str:
    """A SQLAlchemy URL for the legacy server: MySQL/MariaDB via mysql-connector, utf8mb4."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise LegacyImportError(f"Not a database URL: {url!r}.") from exc
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        raise LegacyImportError(
            "The legacy database must be MySQL/MariaDB (mysql+mysqlconnector://...)."
        )
    parsed = parsed.set(drivername="mysql+mysqlconnector")
    if "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


@contextmanager
def open_legacy(url: str) -> Iterator[Connection]:
    """A read-only view of the legacy database: one REPEATABLE READ transaction."""
    engine = create_engine(legacy_url(url), isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn:  # closing rolls the read-only transaction back
            yield conn
    finally:
        engine.dispose()


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(text(sql), params)]


# --- conversions -----------------------------------------------------------------------------


class Clock:
    """Converts the legacy server's naive local times to naive UTC."""

    def __init__(self, zone: str | None) -> None:
        if zone:
            try:
                self._zone: ZoneInfo | None = ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise LegacyImportError(f"Unknown time zone {zone!r}.") from exc
            self.description = f"the time zone {zone}"
        else:
            self._zone = None
            local = datetime.now().astimezone().tzname()
            self.description = f"this machine's local time zone ({local})"

    def to_utc(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # Without a zone, astimezone() applies the machine's local rules (DST included).
        aware = value.replace(tzinfo=self._zone) if self._zone else value.astimezone()
        return aware.astimezone(UTC).replace(tzinfo=None)


def _cents(units: Any) -> int:
    """Whole legacy currency units (int or numeric text) as cents."""
    try:
        value = Decimal(str(units).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {units!r}") from exc
    cents = value * 100
    if cents != cents.to_integral_value() or abs(cents) > MAX_ABS_CENTS:
        raise ValueError(f"not a valid amount: {units!r}")
    return int(cents)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    return str(value)


# --- the import ------------------------------------------------------------------------------


@dataclass
class _Importer:
    session: Session
    legacy: Connection
    clock: Clock
    key_scope: str
    report: ImportReport
    tables: set[str] = field(default_factory=set)
    member_ids: dict[int, int] = field(default_factory=dict)  # legacy user id -> member id
    new_members: dict[int, Member] = field(default_factory=dict)  # legacy user id -> new member

    def count(self, kind: str) -> Count:
        return self.report.counts[kind]

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)

    def run(self) -> None:
        self.tables = set(inspect(self.legacy).get_table_names())
        missing = {"users", "transactions"} - self.tables
        if missing:
            raise LegacyImportError(
                f"Not an FVH database: table(s) {', '.join(sorted(missing))} missing."
            )
        users = _rows(self.legacy, "SELECT * FROM users ORDER BY id")
        for user in users:
            self.import_member(user)
        self.import_notifications(users)
        for user in users:
            if user["id"] in self.member_ids:
                self.import_journal(user)
            else:
                self.count("journal rows").skipped += self.legacy.scalar(
                    text("SELECT COUNT(*) FROM transactions WHERE user_id = :id"),
                    {"id": user["id"]},
                )
        self.import_tokens()
        self.import_api_keys()
        self.import_settings()
        self.note_left_out()

    # members

    def import_member(self, user: dict[str, Any]) -> None:
        code = _text(user["code"]).strip()
        label = f"legacy user {user['id']} ({code or 'no code'})"
        if not _CODE_RE.match(code):
            self.count("members").skipped += 1
            self.warn(f"{label}: the code is not 10 digits; skipped with tokens and journal.")
            return
        existing = self.session.scalar(select(Member).where(Member.code == code))
        if existing is not None:
            self.member_ids[user["id"]] = existing.id
            self.count("members").present += 1
            return
        email = self.usable_email(label, _text(user.get("email")))
        first_name = _text(user.get("vorname")).strip()
        last_name = _text(user.get("nachname")).strip()
        if not first_name or not last_name:
            self.warn(f"{label}: first or last name is empty; imported as '?'.")
        try:
            member = members.create(
                self.session,
                members.NewMember(
                    code=code,
                    first_name=first_name or "?",
                    last_name=last_name or "?",
                    email=email,
                    comment=_text(user.get("kommentar")),
                    is_admin=bool(user.get("is_admin")),
                    locked=bool(user.get("is_locked")),
                ),
                ACTOR,
            )
        except (ValidationError, DuplicateCode, DuplicateEmail) as exc:
            self.count("members").skipped += 1
            self.warn(f"{label}: {exc.message} Skipped with tokens and journal.")
            return
        member.password_hash = self.usable_hash(label, _text(user.get("password")))
        self.member_ids[user["id"]] = member.id
        self.new_members[user["id"]] = member
        self.count("members").imported += 1
        if (
            code in LEGACY_DEFAULT_ADMINS
            and member.is_admin
            and member.password_hash
            and check_password_hash(member.password_hash, LEGACY_DEFAULT_PASSWORD)
        ):
            member.must_change_password = True
            self.warn(f"admin {code} still has the default password; it must be changed at login.")

    def usable_hash(self, label: str, password_hash: str) -> str | None:
        """The legacy hash, kept as it is when werkzeug can verify it (scrypt or pbkdf2); a
        successful login then rehashes it with FVH's method (members.check_password)."""
        if not password_hash:
            return None
        if _HASH_RE.match(password_hash):
            return password_hash
        self.warn(f"{label}: the password is not a werkzeug hash; imported without password.")
        return None

    def usable_email(self, label: str, raw: str) -> str | None:
        """The legacy address if FVH accepts it and nobody has it; else none, with a warning."""
        try:
            email = members.normalize_email(raw)
        except ValidationError:
            self.warn(f"{label}: e-mail {raw!r} is not valid; imported without e-mail.")
            return None
        if email and self.session.scalar(select(Member.id).where(Member.email == email)):
            self.warn(f"{label}: e-mail {email} is already used; imported without e-mail.")
            return None
        return email

    def import_notifications(self, users: list[dict[str, Any]]) -> None:
        """Opt-ins and own thresholds of newly imported members, where FVH has the fields."""
        has_flags = all(hasattr(Member, f) for f in NOTIFICATION_FLAGS.values())
        optins: list[dict[str, Any]] = []
        if {"benutzer_benachrichtigungseinstellungen", "benachrichtigungstypen"} <= self.tables:
            optins = _rows(
                self.legacy,
                "SELECT s.benutzer_id, t.event_schluessel FROM "
                "benutzer_benachrichtigungseinstellungen s JOIN benachrichtigungstypen t "
                "ON t.id = s.typ_id WHERE s.email_aktiviert = 1 ORDER BY s.benutzer_id",
            )
        if not has_flags:
            if optins:
                self.report.not_imported.append(
                    f"{len(optins)} notification opt-ins (no FVH equivalent yet)."
                )
            self.report.not_imported.append("reminder thresholds (no FVH equivalent yet).")
            return
        applied = 0
        for optin in optins:
            member = self.new_members.get(optin["benutzer_id"])
            flag = NOTIFICATION_FLAGS.get(_text(optin["event_schluessel"]))
            if member is not None and flag is not None:
                setattr(member, flag, True)
                applied += 1
        if applied:
            self.report.notes.append(
                f"{applied} e-mail notification opt-ins set on imported members "
                f"({', '.join(f'{k} → {v}' for k, v in NOTIFICATION_FLAGS.items())})."
            )
        if hasattr(Member, "low_balance_threshold_cents"):
            for user in users:
                member = self.new_members.get(user["id"])
                threshold = user.get("infomail_user_threshold")
                if member is not None and threshold is not None:
                    member.low_balance_threshold_cents = _cents(threshold)
        responsible = sorted({u.get("infomail_responsible_threshold") for u in users} - {None})
        if responsible:
            self.report.not_imported.append(
                "the per-member thresholds for the responsible person's mail "
                f"(values: {', '.join(map(str, responsible))}); FVH has one global "
                "setting, responsible_threshold_cents."
            )
        self.session.flush()

    # journal

    def import_journal(self, user: dict[str, Any]) -> None:
        """All legacy transactions of one member, unless an earlier run imported them."""
        member_id = self.member_ids[user["id"]]
        rows = _rows(
            self.legacy,
            "SELECT id, beschreibung, saldo_aenderung, timestamp FROM transactions "
            "WHERE user_id = :user_id ORDER BY timestamp, id",
            user_id=user["id"],
        )
        if not rows:
            return
        done = self.session.scalar(
            select(func.count())
            .select_from(Transaction)
            .where(
                Transaction.member_id == member_id,
                Transaction.booked_by_kind == ACTOR.kind,
                Transaction.booked_by_label == IMPORT_LABEL,
            )
        )
        if done:
            self.count("journal rows").present += len(rows)
            if done != len(rows):
                self.warn(
                    f"member {user['code']}: {len(rows)} legacy transactions, but {done} were "
                    "imported earlier; the legacy journal changed since and is not re-imported."
                )
            return
        entries = []
        for row in rows:
            try:
                amount = _cents(row["saldo_aenderung"])
            except ValueError as exc:
                raise LegacyImportError(f"legacy transaction {row['id']}: {exc}") from exc
            entries.append(
                {
                    "member_id": member_id,
                    "amount_cents": amount,
                    "description": _text(row["beschreibung"])[: ledger.MAX_DESCRIPTION_LENGTH],
                    "created_at": self.clock.to_utc(row["timestamp"]) or datetime.now(UTC),
                    "booked_by_kind": ACTOR.kind,
                    "booked_by_label": IMPORT_LABEL,
                }
            )
        # The journal rows and the balance change go together, as in the ledger; no mails are
        # queued for history. `ledger.check` at the end proves the two agree.
        self.session.execute(insert(Transaction), entries)
        total = sum(e["amount_cents"] for e in entries)
        self.session.execute(
            update(Member)
            .where(Member.id == member_id)
            .values(balance_cents=Member.balance_cents + total)
            .execution_options(synchronize_session=False)
        )
        loaded = self.session.identity_map.get(identity_key(Member, member_id))
        if loaded is not None:
            self.session.expire(loaded, ["balance_cents"])
        self.count("journal rows").imported += len(entries)

    # tokens

    def import_tokens(self) -> None:
        if "nfc_token" not in self.tables:
            return
        for row in _rows(self.legacy, "SELECT * FROM nfc_token ORDER BY token_id"):
            data = bytes(row["token_daten"] or b"")
            label = f"legacy token {row['token_id']} ({tokens.to_hex(data) or 'empty'})"
            member_id = self.member_ids.get(row["user_id"])
            if member_id is None:
                self.count("tokens").skipped += 1
                self.warn(f"{label}: its member was not imported; skipped.")
                continue
            if not 1 <= len(data) <= tokens.MAX_TOKEN_BYTES:
                self.count("tokens").skipped += 1
                self.warn(f"{label}: {len(data)} bytes is not a valid token; skipped.")
                continue
            existing = tokens.find(self.session, data)
            if existing is not None:
                self.count("tokens").present += 1
                if existing.member_id != member_id:
                    self.warn(f"{label}: belongs to member {existing.member.code} in FVH; kept.")
                continue
            member = self.session.get(Member, member_id)
            assert member is not None
            token = tokens.add(self.session, member, data, _text(row["token_name"])[:255], ACTOR)
            token.last_used_at = self.clock.to_utc(row.get("last_used"))
            self.count("tokens").imported += 1

    # API

    def import_api_keys(self) -> None:
        if not {"api_users", "api_keys"} <= self.tables:
            return
        clients: dict[int, ApiClient] = {}
        for row in _rows(self.legacy, "SELECT * FROM api_users ORDER BY id"):
            name = _text(row["username"]).strip()[:255] or f"Legacy API user {row['id']}"
            client = keys.find_client(self.session, name)
            if client is None:
                client = keys.create_client(self.session, name, ACTOR)
                self.count("API clients").imported += 1
            else:
                self.count("API clients").present += 1
            clients[row["id"]] = client
        for row in _rows(self.legacy, "SELECT * FROM api_keys ORDER BY id"):
            plaintext = _text(row["api_key"]).strip()
            label = f"legacy API key {row['id']} ({_text(row['api_key_name']) or 'unnamed'})"
            client = clients.get(row["user_id"])
            if client is None or not plaintext:
                self.count("API keys").skipped += 1
                self.warn(f"{label}: no API user or an empty key; skipped.")
                continue
            key_hash = keys.hash_key(plaintext)
            if self.session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)):
                self.count("API keys").present += 1
                continue
            keys.create_key(
                self.session,
                client,
                ACTOR,
                scope=self.key_scope,
                name=_text(row["api_key_name"]),
                plaintext=plaintext,
            )
            self.count("API keys").imported += 1
            if len(plaintext) < 32:
                self.warn(f"{label}: only {len(plaintext)} characters; replace it soon.")

    # settings

    def import_settings(self) -> None:
        if "system_einstellungen" not in self.tables:
            return
        rows = _rows(
            self.legacy,
            "SELECT einstellung_schluessel, einstellung_wert FROM system_einstellungen",
        )
        values = {_text(r["einstellung_schluessel"]): _text(r["einstellung_wert"]) for r in rows}
        others = sorted(set(values) - {"TRANSACTION_SALDO_CHANGE"})
        if others:
            self.report.not_imported.append(f"legacy settings {', '.join(others)}.")
        if "TRANSACTION_SALDO_CHANGE" not in values:
            return
        raw = values["TRANSACTION_SALDO_CHANGE"]
        try:
            cents = _cents(raw)
        except ValueError:
            self.count("settings").skipped += 1
            self.warn(f"TRANSACTION_SALDO_CHANGE = {raw!r} is not an amount; not imported.")
            return
        stored = self.session.get(Setting, "default_amount_cents")
        if stored is not None:
            self.count("settings").present += 1
            if int(stored.value) != cents:
                self.warn(
                    f"FVH's default amount is already {stored.value} cents; the legacy "
                    f"{cents} cents (TRANSACTION_SALDO_CHANGE) is not applied."
                )
            return
        try:
            before = settings_mod.load(self.session)
            after = settings_mod.update(self.session, ACTOR, default_amount_cents=cents)
        except ValidationError as exc:
            self.count("settings").skipped += 1
            self.warn(f"TRANSACTION_SALDO_CHANGE = {raw!r}: {exc.message} Not imported.")
            return
        if after == before:  # the legacy value is FVH's default already
            self.count("settings").present += 1
        else:
            self.count("settings").imported += 1

    def note_left_out(self) -> None:
        self.report.not_imported.append(
            "acc_duties / acc_privacy_policy (FVH asks for no such consent)."
        )
        if "password_reset_tokens" in self.tables:
            self.report.not_imported.append("password reset tokens (short-lived; by design).")


def import_legacy(
    session: Session,
    url: str,
    *,
    key_scope: str = keys.SCOPE_TERMINAL,
    zone: str | None = None,
) -> ImportReport:
    """Import the legacy database at `url` into the session's transaction; returns the report.

    The caller commits (or rolls back for a dry run). Raises LegacyImportError, leaving the
    transaction to be rolled back, when the data can't be imported consistently.
    """
    if key_scope not in keys.SCOPES:
        raise LegacyImportError(f"Unknown key scope {key_scope!r}.")
    clock = Clock(zone)
    source = make_url(legacy_url(url)).render_as_string(hide_password=True)
    report = ImportReport(source=source, zone=clock.description)
    try:
        with open_legacy(url) as legacy:
            _Importer(session, legacy, clock, key_scope, report).run()
    except DBAPIError as exc:
        raise LegacyImportError(f"The import failed with a database error: {exc.orig}") from exc
    session.flush()
    mismatches = ledger.check(session)
    if mismatches:
        codes = ", ".join(m.code for m in mismatches[:10])
        raise LegacyImportError(f"After the import the ledger is inconsistent for {codes}.")
    if report.changed:
        audit.record(session, ACTOR, "legacy.import", source, after=report.summary())
    session.flush()
    return report


__all__ = ["IMPORT_LABEL", "ImportReport", "LegacyImportError", "import_legacy"]
