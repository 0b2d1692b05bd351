"""The `fvh` command in the exact forms operators script."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from fvh.core import keys, members
from fvh.db.models import Member
from fvh.ops.cli import main


@pytest.fixture
def fvh(config, app):
    """Run `fvh ...` against the test database; returns the click Result."""
    runner = CliRunner()
    env = {key: str(value) for key, value in config.items() if key.isupper()}

    def run(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def test_member_add_list_lock_unlock(fvh, build, database):
    out = fvh("member", "add", "1234567890", "Max", "Muster", "--email", "max@example.org").output
    assert "1234567890" in out
    auto = fvh("member", "add", "auto", "Erika", "Feuer", "--admin").output
    listing = fvh("member", "list").output
    assert "1234567890  Muster, Max  0,00" in listing
    assert "Feuer, Erika" in listing and "[admin]" in listing
    assert "created with code" in auto
    fvh("member", "lock", "1234567890")
    with database.session() as s:
        assert members.get_by_code(s, "1234567890").locked
    assert "[locked]" in fvh("member", "list").output
    fvh("member", "unlock", "1234567890")
    with database.session() as s:
        assert not members.get_by_code(s, "1234567890").locked


def test_bad_input_gives_a_message_and_exit_1(fvh, database):
    result = fvh("member", "add", "12345", "Max", "Muster", ok=False)
    assert result.exit_code == 1
    assert "10 Ziffern" in result.output
    fvh("member", "add", "1234567890", "Max", "Muster")
    assert "bereits vergeben" in fvh("member", "add", "1234567890", "A", "B", ok=False).output
    assert fvh("book", "1234567890", "abc", "x", ok=False).exit_code == 1
    assert fvh("book", "0000000000", "5", "x", ok=False).exit_code == 1
    assert fvh("token", "add", "1234567890", "xyz", ok=False).exit_code == 1
    with database.session() as s:
        assert members.get_by_code(s, "1234567890").balance_cents == 0


def test_book_and_token_add(fvh, build):
    build.member(code="1234567890")
    assert "10,00" in fvh("book", "1234567890", "10", "Einzahlung").output
    assert "7,50" in fvh("book", "1234567890", "-2,50", "Korrektur").output
    # An admin correction may go below the floor.
    assert "-2,50" in fvh("book", "1234567890", "-10", "Korrektur").output
    assert build.balance("1234567890") == -250
    assert (
        "04:A2:2B:1C" in fvh("token", "add", "1234567890", "04 a2:2b:1C", "--name", "Chip").output
    )
    assert "gehört bereits" in fvh("token", "add", "1234567890", "04a22b1c", ok=False).output


def test_book_reads_amounts_as_the_gui_does(fvh, build):
    """German unless told otherwise; "1.000" is refused with both readings, nothing booked."""
    build.member(code="1234567890")
    assert "1.000,00" in fvh("book", "1234567890", "1.000,00 €", "Einzahlung").output
    refused = fvh("book", "1234567890", "1.000", "Einzahlung", ok=False)
    assert refused.exit_code == 1
    assert "1.000 – meinten Sie 1.000,00\xa0€ oder 1,00\xa0€?" in refused.output
    assert fvh("book", "1234567890", "-2.50", "Korrektur", ok=False).exit_code == 1
    assert build.balance("1234567890") == 100000
    english = fvh("book", "1234567890", "\u22121,000.50", "Correction", "--locale", "en").output
    assert "-€0.50" in english  # 1,000.00 - 1,000.50
    assert "did you mean" not in english
    assert fvh("book", "1234567890", "1,5", "x", "--locale", "en", ok=False).exit_code == 1
    assert build.balance("1234567890") == -50


def test_api_key_create_prints_the_key_once_on_its_own_line(fvh, database):
    result = fvh("api-key", "create", "Kasse Theke", "--scope", "admin")
    key_lines = [line for line in result.stdout.splitlines() if line.startswith("fvh_")]
    assert len(key_lines) == 1 and key_lines[0] == result.stdout.strip()
    with database.session() as s:
        key = keys.authenticate(s, key_lines[0])
        assert key is not None and key.scope == "admin" and key.client_name == "Kasse Theke"
    second = fvh("api-key", "create", "Kasse Theke").stdout.strip()
    assert second != key_lines[0]


def test_create_admin_interactive_and_with_options(fvh, database):
    fvh("create-admin", "--code", "1111111111", "--password", "sehr-geheim-1")
    fvh("create-admin", "--code", "2222222222", input="anderes-geheim\nanderes-geheim\n")
    with database.session() as s:
        for code, password in (("1111111111", "sehr-geheim-1"), ("2222222222", "anderes-geheim")):
            admin = members.get_by_code(s, code)
            assert admin.is_admin
            assert members.check_password(admin, password, "pbkdf2:sha256:1000")


@pytest.mark.corrupts_ledger
def test_ledger_check_exit_codes(fvh, build, database):
    build.member(code="1234567890", balance_cents=500)
    assert "Ledger OK" in fvh("ledger", "check").output
    with database.session() as s:
        s.execute(update(Member).values(balance_cents=499))
    result = fvh("ledger", "check", ok=False)
    assert result.exit_code == 1
    assert "MISMATCH 1234567890" in result.output


def test_db_upgrade_creates_bootstrap_admin_once(fvh, database):
    first = fvh("db", "upgrade").output
    assert "9999999999" in first and "password:" in first
    assert "password:" not in fvh("db", "upgrade").output
    with database.session() as s:
        assert members.get_by_code(s, "9999999999").must_change_password


def test_maintenance_purges_old_rows_only(fvh, build, database):
    from datetime import timedelta

    from fvh.db.models import LoginAttempt, OutboxMessage, utcnow

    with database.session() as s:
        for age in (100, 1):
            s.add(
                LoginAttempt(
                    identifier="x",
                    ip_address="127.0.0.1",
                    outcome="failed",
                    created_at=utcnow() - timedelta(days=age),
                )
            )
        for age, status in ((40, "sent"), (1, "sent"), (40, "pending")):
            s.add(
                OutboxMessage(
                    template="booking",
                    recipient="a@b.c",
                    subject="s",
                    body_text="t",
                    body_html="h",
                    status=status,
                    attempts=0,
                    next_attempt_at=utcnow(),
                    last_error="",
                    sent_at=utcnow() - timedelta(days=age),
                )
            )
    out = fvh("maintenance").output
    assert "Deleted 1 login attempts, 0 idempotency records, 1 sent mails." in out
    with database.session() as s:
        assert len(s.query(LoginAttempt).all()) == 1
        assert sorted(m.status for m in s.query(OutboxMessage)) == ["pending", "sent"]


def test_commands_on_an_unmigrated_database_say_what_to_do(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["member", "list"], env=env)
    assert result.exit_code == 1
    assert "fvh db upgrade" in result.output
    assert "Traceback" not in result.output
