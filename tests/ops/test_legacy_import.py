"""`fvh import-legacy`: the original FVH's MariaDB database into any FVH backend."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from fvh.core import keys, members, system_settings
from fvh.db.models import ApiKey, AuditEntry, Member, Token, Transaction
from fvh.ops import legacy
from fvh.ops.cli import main
from tests.conftest import TEST_HASH_METHOD, create_server_database, drop_server_database
from tests.ops import table_rows

pytestmark = pytest.mark.skipif(
    not os.environ.get("FVH_TEST_MYSQL_URL"),
    reason="the legacy database is MariaDB/MySQL: set FVH_TEST_MYSQL_URL to run these tests",
)

LEGACY_KEY = hashlib.sha256(b"legacy terminal key").hexdigest()  # 64 hex characters
MAX_TOKEN = bytes.fromhex("04a22b1c")
ERIKA_TOKEN = bytes.fromhex("04112233445566")
ZONE = "Europe/Berlin"

LEGACY_DDL = [
    """CREATE TABLE users (
        id INT AUTO_INCREMENT PRIMARY KEY,
        code VARCHAR(10) NOT NULL,
        nachname VARCHAR(255) NOT NULL,
        vorname VARCHAR(255) NOT NULL,
        password VARCHAR(255) NOT NULL DEFAULT '',
        email VARCHAR(255) NULL,
        kommentar VARCHAR(255) NULL,
        infomail_user_threshold INT DEFAULT 5,
        infomail_responsible_threshold INT DEFAULT 5,
        acc_duties TINYINT(1) NOT NULL DEFAULT 0,
        acc_privacy_policy TINYINT(1) NOT NULL DEFAULT 0,
        is_locked TINYINT(1) NOT NULL DEFAULT 0,
        is_admin TINYINT(1) NOT NULL DEFAULT 0,
        UNIQUE KEY code (code),
        UNIQUE KEY email (email)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE transactions (
        id INT AUTO_INCREMENT PRIMARY KEY,
        user_id INT NOT NULL,
        beschreibung VARCHAR(255) NOT NULL,
        saldo_aenderung INT NOT NULL,
        timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE nfc_token (
        token_id INT AUTO_INCREMENT PRIMARY KEY,
        user_id INT NOT NULL,
        token_name VARCHAR(255) NOT NULL,
        token_daten VARBINARY(20) NOT NULL,
        last_used DATETIME NULL,
        UNIQUE KEY token_daten (token_daten),
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE api_users (
        id INT AUTO_INCREMENT PRIMARY KEY,
        username VARCHAR(255) NOT NULL,
        UNIQUE KEY username (username)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE api_keys (
        id INT AUTO_INCREMENT PRIMARY KEY,
        user_id INT NOT NULL,
        api_key_name VARCHAR(256) NOT NULL,
        api_key VARCHAR(255) NOT NULL,
        UNIQUE KEY api_key (api_key),
        FOREIGN KEY (user_id) REFERENCES api_users (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE system_einstellungen (
        einstellung_schluessel VARCHAR(100) PRIMARY KEY,
        einstellung_wert VARCHAR(255) NOT NULL,
        beschreibung TEXT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE benachrichtigungstypen (
        id INT PRIMARY KEY,
        event_schluessel VARCHAR(50) NOT NULL,
        beschreibung VARCHAR(255) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE benutzer_benachrichtigungseinstellungen (
        benutzer_id INT NOT NULL,
        typ_id INT NOT NULL,
        email_aktiviert TINYINT(1) NOT NULL DEFAULT 0,
        PRIMARY KEY (benutzer_id, typ_id),
        FOREIGN KEY (benutzer_id) REFERENCES users (id) ON DELETE CASCADE,
        FOREIGN KEY (typ_id) REFERENCES benachrichtigungstypen (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE password_reset_tokens (
        id INT AUTO_INCREMENT PRIMARY KEY,
        user_id INT NOT NULL,
        token VARCHAR(128) NOT NULL,
        expires_at DATETIME NOT NULL,
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
]

USER_FIELDS = (
    "id",
    "code",
    "nachname",
    "vorname",
    "password",
    "email",
    "kommentar",
    "infomail_user_threshold",
    "is_locked",
    "is_admin",
)


def _legacy_rows() -> list[tuple[str, dict]]:
    """A realistic original installation: its default admin, members, one broken record."""
    scrypt = generate_password_hash("changeme", "scrypt:32768:8:1")
    pbkdf2 = generate_password_hash("max-passwort", "pbkdf2:sha256:1000")
    users = [
        (1, "9876543210", "FVH", "Admin", scrypt, "", None, 5, 0, 1),
        (2, "1000000001", "Mustermann", "Max", pbkdf2, "Max@Example.org", "Kassenwart", 3, 0, 0),
        (3, "1000000002", "Feuer", "Erika", "", None, None, 5, 1, 0),
        (4, "1000000003", "Brand", "Anna", "", "anna@example.org", None, 5, 0, 0),
        (5, "1000000004", "Leer", "Lena", "", "keine-adresse", None, 5, 0, 0),
        (6, "12345", "Kurz", "Kurt", "", None, None, 5, 0, 0),
        (7, "1000000005", "Klar", "Paul", "geheim", None, None, 5, 0, 0),  # not a hash
    ]
    insert_user = (
        f"INSERT INTO users ({', '.join(USER_FIELDS)}) "
        f"VALUES ({', '.join(':' + name for name in USER_FIELDS)})"
    )
    rows = [(insert_user, dict(zip(USER_FIELDS, user, strict=True))) for user in users]
    bookings = [
        (2, "Einzahlung", 20, "2025-01-15 18:30:00"),  # CET: 17:30 UTC
        (2, "Getränk", -2, "2025-07-01 12:00:00"),  # CEST: 10:00 UTC
        (2, "Getränk", -2, "2025-07-01 12:05:00"),
        (3, "Getränk", -5, "2025-03-01 20:00:00"),
        (1, "Einzahlung", 10, "2024-12-24 10:00:00"),
        (1, "Kaffee", -3, "2024-12-24 10:15:00"),
        (6, "Einzahlung", 5, "2025-02-02 09:00:00"),
    ]
    rows += [
        (
            "INSERT INTO transactions (user_id, beschreibung, saldo_aenderung, timestamp) "
            "VALUES (:u, :d, :a, :t)",
            {"u": u, "d": d, "a": a, "t": t},
        )
        for u, d, a, t in bookings
    ]
    rows += [
        (
            "INSERT INTO nfc_token (user_id, token_name, token_daten, last_used) "
            "VALUES (:u, :n, :d, :t)",
            {"u": u, "n": n, "d": d, "t": t},
        )
        for u, n, d, t in (
            (2, "Schlüsselanhänger", MAX_TOKEN, "2025-07-01 12:05:00"),
            (3, "Karte", ERIKA_TOKEN, None),
            (6, "Alt", bytes.fromhex("0102030405"), None),
        )
    ]
    rows += [
        ("INSERT INTO api_users (id, username) VALUES (1, 'Kasse Theke')", {}),
        (
            "INSERT INTO api_keys (user_id, api_key_name, api_key) VALUES (1, 'Theke', :k)",
            {"k": LEGACY_KEY},
        ),
        (
            "INSERT INTO system_einstellungen VALUES ('TRANSACTION_SALDO_CHANGE', '-2', "
            "'Betrag pro Buchung'), ('MAIL_SERVER', 'smtp.example.org', NULL)",
            {},
        ),
        (
            "INSERT INTO benachrichtigungstypen VALUES (1, 'NEUE_TRANSAKTION', 'jede Buchung'), "
            "(2, 'SALDO_NULL', 'Saldo 0'), (3, 'THRESHOLD_REMINDER', 'unter Schwelle')",
            {},
        ),
        (
            "INSERT INTO benutzer_benachrichtigungseinstellungen VALUES "
            "(2, 1, 1), (2, 3, 1), (3, 2, 0)",
            {},
        ),
        (
            "INSERT INTO password_reset_tokens (user_id, token, expires_at) "
            "VALUES (2, 'abc', '2025-01-01 00:00:00')",
            {},
        ),
    ]
    return rows


@pytest.fixture(scope="module")
def legacy_url():
    """The original FVH's database on the MariaDB test server, built once per module."""
    name = f"fvh_legacy_{uuid.uuid4().hex[:10]}"
    url = create_server_database("mysql", name)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for ddl in LEGACY_DDL:
                conn.execute(text(ddl))
            for sql, params in _legacy_rows():
                conn.execute(text(sql), params)
        yield url
    finally:
        engine.dispose()
        drop_server_database("mysql", name)


@pytest.fixture
def fvh(config, app):
    runner = CliRunner()
    env = {key: str(value) for key, value in config.items() if key.isupper()}

    def run(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def _counts(output: str, kind: str) -> tuple[int, int, int]:
    """(imported, already present, skipped) of one kind, read from the report."""
    line = next(line for line in output.splitlines() if line.strip().startswith(kind + ":"))
    numbers = [int(word) for word in line.replace(",", " ").split() if word.isdigit()]
    return numbers[0], numbers[1], numbers[2]


def test_import_brings_members_journal_tokens_keys_and_settings(fvh, legacy_url, build, database):
    build.member(code="5555555555", first_name="Anna", last_name="Anders", email="anna@example.org")
    out = fvh("import-legacy", legacy_url, "--timezone", ZONE).output

    assert _counts(out, "members") == (6, 0, 1)
    assert _counts(out, "journal rows") == (6, 0, 1)
    assert _counts(out, "tokens") == (2, 0, 1)
    assert _counts(out, "API clients") == (1, 0, 0)
    assert _counts(out, "API keys") == (1, 0, 0)
    assert _counts(out, "settings") == (1, 0, 0)
    assert "converted to UTC using the time zone Europe/Berlin" in out
    assert "legacy user 6 (12345): the code is not 10 digits" in out
    assert "anna@example.org is already used; imported without e-mail" in out
    assert "'keine-adresse' is not valid" in out
    assert "legacy user 7 (1000000005): the password is not a werkzeug hash" in out
    assert "admin 9876543210 still has the default password; it must be changed" in out
    assert "MAIL_SERVER" in out and "password reset tokens" in out

    with database.session() as s:
        max_ = members.get_by_code(s, "1000000001")
        # Imported through the core, so found and ordered like every other member.
        assert [m.code for m in members.search(s, "MUSTERMANN").rows] == ["1000000001"]
        listed = [m.last_name for m in members.search(s, sort="name", limit=None).rows]
        assert listed == [
            "Anders",
            "Brand",
            "Feuer",
            "FVH",
            "Klar",
            "Leer",
            "Mustermann",
        ]  # not FVH < Feuer
        assert (max_.first_name, max_.last_name, max_.comment) == (
            "Max",
            "Mustermann",
            "Kassenwart",
        )
        assert max_.email == "max@example.org" and not max_.locked and not max_.is_admin
        assert max_.balance_cents == 1600
        assert members.check_password(max_, "max-passwort", TEST_HASH_METHOD)
        admin = members.get_by_code(s, "9876543210")
        assert admin.is_admin and admin.email is None and admin.balance_cents == 700
        assert admin.must_change_password
        assert admin.password_hash.startswith("scrypt:")
        assert members.check_password(admin, "changeme", TEST_HASH_METHOD)
        assert admin.password_hash.startswith(TEST_HASH_METHOD), "rehashed at first login"
        erika = members.get_by_code(s, "1000000002")
        assert erika.locked and erika.password_hash is None and erika.balance_cents == -500
        assert members.get_by_code(s, "1000000003").email is None
        assert members.get_by_code(s, "1000000004").email is None
        assert members.get_by_code(s, "1000000005").password_hash is None
        journal = s.execute(
            select(Transaction.amount_cents, Transaction.description, Transaction.created_at)
            .where(Transaction.member_id == max_.id)
            .order_by(Transaction.created_at)
        ).all()
        assert [tuple(row) for row in journal] == [
            (2000, "Einzahlung", datetime(2025, 1, 15, 17, 30)),
            (-200, "Getränk", datetime(2025, 7, 1, 10, 0)),
            (-200, "Getränk", datetime(2025, 7, 1, 10, 5)),
        ]
        labels = set(s.scalars(select(Transaction.booked_by_label)))
        assert labels == {legacy.IMPORT_LABEL}
        token = s.scalar(select(Token).where(Token.data == MAX_TOKEN))
        assert token.member_id == max_.id and token.name == "Schlüsselanhänger"
        assert token.last_used_at == datetime(2025, 7, 1, 10, 5)
        assert s.scalar(select(Token.member_id).where(Token.data == ERIKA_TOKEN)) == erika.id
        key = s.scalar(select(ApiKey).where(ApiKey.key_hash == keys.hash_key(LEGACY_KEY)))
        assert key.scope == keys.SCOPE_TERMINAL and key.client.name == "Kasse Theke"
        assert system_settings.load(s).default_amount_cents == -200
        if hasattr(Member, "notify_bookings"):
            assert max_.notify_bookings and max_.notify_low_balance and not max_.notify_zero
            assert max_.low_balance_threshold_cents == 300
            assert not erika.notify_zero
            assert "2 e-mail notification opt-ins set on imported members" in out
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "legacy.import"))


def test_an_imported_key_books_at_the_terminal_unchanged(fvh, legacy_url, client):
    fvh("import-legacy", legacy_url)
    answer = client.put(
        "/api/nfc-transaktion",
        json={"token": base64.b64encode(MAX_TOKEN).decode(), "beschreibung": "Getränk"},
        headers={"X-API-Key": LEGACY_KEY},
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["saldo"] == 14  # 16 imported, minus the imported default of 2


def test_a_second_run_changes_nothing(fvh, legacy_url, database_url):
    fvh("import-legacy", legacy_url)
    before = table_rows(database_url)
    out = fvh("import-legacy", legacy_url).output
    assert table_rows(database_url) == before
    assert "this machine's local time zone" in out
    assert _counts(out, "members") == (0, 6, 1)
    assert _counts(out, "journal rows") == (0, 6, 1)
    assert _counts(out, "tokens") == (0, 2, 1)
    assert _counts(out, "API keys") == (0, 1, 0)
    assert _counts(out, "settings") == (0, 1, 0)


def test_a_dry_run_reports_and_writes_nothing(fvh, legacy_url, database_url):
    before = table_rows(database_url)
    out = fvh("import-legacy", legacy_url, "--dry-run", "--key-scope", "admin").output
    assert "Dry run: nothing was written." in out
    assert _counts(out, "members") == (6, 0, 1)
    assert table_rows(database_url) == before


def test_admin_key_scope(fvh, legacy_url, database):
    fvh("import-legacy", legacy_url, "--key-scope", "admin")
    with database.session() as s:
        assert keys.authenticate(s, LEGACY_KEY).scope == keys.SCOPE_ADMIN


def test_an_unreadable_legacy_database_is_a_clear_error(fvh, database_url):
    server = make_url(os.environ["FVH_TEST_MYSQL_URL"])
    missing = server.set(database=f"missing_{uuid.uuid4().hex[:8]}")
    result = fvh("import-legacy", missing.render_as_string(hide_password=False), ok=False)
    assert result.exit_code == 1
    assert "database error" in result.output and "Traceback" not in result.output
    result = fvh("import-legacy", "sqlite:///x.db", ok=False)
    assert "must be MySQL/MariaDB" in result.output
