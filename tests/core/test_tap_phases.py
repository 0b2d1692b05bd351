"""A tap reads before it writes: what may change in between, and how SQLite writers queue."""

from __future__ import annotations

import base64
import signal
import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from fvh import db
from fvh.app import create_app
from fvh.core import audit, ledger, members, tokens
from fvh.core.errors import MemberNotFound, TokenNotFound
from fvh.db import Database, migrate
from fvh.db.models import Member, Token, Transaction
from fvh.db.sqlite_writers import QueuedConnection
from tests.builders import Builder

TERMINAL = audit.Actor.system("Terminal")


def _journal_count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Transaction)) or 0


def test_token_moved_to_another_member_after_the_read_books_nothing(build, database):
    old = build.member(code="4000000001", first_name="Alt", balance_cents=1000)
    new = build.member(code="4000000002", first_name="Neu", balance_cents=1000)
    build.token(old, b"\x04\x01\x02\x03")
    entries = _journal_count(database)
    with database.session() as session:
        found = db.fetch(session, tokens.owner_lookup(b"\x04\x01\x02\x03"))
    assert found is not None
    read, _system = found
    assert read.member.code == "4000000001"
    with database.session() as session:  # an admin gives the chip to someone else
        session.scalars(select(Token)).one().member_id = new.id
    with database.session() as session, pytest.raises(TokenNotFound):
        ledger.debit_at_terminal(session, read.member, "Kasse", TERMINAL, token_id=read.token_id)
    with database.session() as session:
        balances = dict(session.execute(select(Member.code, Member.balance_cents)).tuples().all())
    assert balances == {"4000000001": 1000, "4000000002": 1000}
    assert _journal_count(database) == entries


def test_member_deleted_after_the_read_books_nothing(build, database):
    gone = build.member(code="4000000003", balance_cents=1000)
    entries = _journal_count(database) - 1  # the deposit goes with the member
    with database.session() as session:
        card = members.holder(session, code="4000000003")
    with database.session() as session:
        session.delete(session.get(Member, gone.id))
    with database.session() as session, pytest.raises(MemberNotFound):
        ledger.debit_at_terminal(session, card, "Kasse", TERMINAL)
    assert _journal_count(database) == entries


def test_card_carries_what_booking_mails_need(build, database):
    build.member(code="4000000004", first_name="Erna", last_name="Eimer", email="e@example.org")
    with database.session() as session:
        card = members.holder(session, code="4000000004")
        assert members.holder(session, code="4000000099") is None
        assert members.holder(session, member_id=card.id) == card
    assert (card.first_name, card.last_name, card.email) == ("Erna", "Eimer", "e@example.org")


# --- SQLite: readers beside the writer, writers in a queue -----------------------------------


@pytest.fixture
def sqlite_database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    yield database
    database.dispose()


def test_sqlite_connections_queue_on_the_writer_lock(sqlite_database):
    holder = sqlite_database.sessionmaker()
    holder.execute(text("UPDATE t SET n = 2"))  # BEGIN IMMEDIATE: holds the writer lock
    assert isinstance(holder.connection().connection.dbapi_connection, QueuedConnection)
    waited: list[float] = []

    def second_writer() -> None:
        started = time.monotonic()
        with sqlite_database.session() as session:
            session.execute(text("UPDATE t SET n = n + 10"))
        waited.append(time.monotonic() - started)

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.3)
    assert waited == []  # still queued behind the holder
    with sqlite_database.session() as reader:  # a reader is not held up meanwhile
        db.begin_read(reader)
        assert reader.scalar(text("SELECT n FROM t")) == 1
    holder.commit()
    holder.close()
    thread.join(timeout=5)
    assert len(waited) == 1 and waited[0] >= 0.3
    with sqlite_database.session() as session:
        assert session.scalar(text("SELECT n FROM t")) == 12


def test_sqlite_writer_gives_up_like_the_busy_timeout(sqlite_database, monkeypatch):
    monkeypatch.setattr(db.engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = sqlite_database.sessionmaker()
    holder.execute(text("UPDATE t SET n = 2"))
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"):  # noqa: SIM117
        with sqlite_database.session() as session:
            session.execute(text("UPDATE t SET n = 3"))
    assert 0.15 < time.monotonic() - started < 2
    holder.rollback()
    holder.close()
    with sqlite_database.session() as session:  # the lock was given back: writers go on
        session.execute(text("UPDATE t SET n = 4"))
        assert session.scalar(text("SELECT n FROM t")) == 4


def _writer(sqlite_database) -> QueuedConnection:
    connection = sqlite3.connect(
        sqlite_database.engine.url.database, factory=QueuedConnection, check_same_thread=False
    )
    connection.isolation_level = None
    return connection


@pytest.mark.timeout(0)  # pytest-timeout's alarm would send the writer to polling
def test_main_thread_writer_sleeps_until_the_lock_is_free(sqlite_database, monkeypatch):
    holder, waiter = _writer(sqlite_database), _writer(sqlite_database)
    holder.begin_write(1)
    releaser = threading.Timer(0.3, holder.rollback)
    previous_handler = signal.getsignal(signal.SIGALRM)
    polls: list[float] = []
    monkeypatch.setattr(QueuedConnection, "_poll_for_lock", lambda _self, t: polls.append(t))
    releaser.start()
    started = time.monotonic()
    waiter.begin_write(5)  # the main thread: a blocking flock, bounded by an alarm
    waited = time.monotonic() - started
    assert 0.25 < waited < 3
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left behind
    assert signal.getsignal(signal.SIGALRM) is previous_handler
    assert polls == []  # it slept in flock
    waiter.execute("UPDATE t SET n = 7")
    waiter.commit()
    releaser.join()
    holder.close()
    waiter.close()


@pytest.mark.timeout(0)  # its own alarm stands in for pytest-timeout's
def test_writer_polls_while_another_alarm_is_set(sqlite_database):
    holder, waiter = _writer(sqlite_database), _writer(sqlite_database)
    holder.begin_write(1)
    signal.setitimer(signal.ITIMER_REAL, 60)  # someone else's alarm (pytest-timeout's, here)
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            waiter.begin_write(0.2)
        remaining, _interval = signal.getitimer(signal.ITIMER_REAL)
        assert 50 < remaining <= 60  # left alone
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    holder.rollback()
    holder.close()
    waiter.close()


@pytest.mark.timeout(0)  # the main-thread case sleeps in flock only when no alarm is set
@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_writer_waits_at_most_its_timeout(sqlite_database, where):
    holder, waiter = _writer(sqlite_database), _writer(sqlite_database)
    holder.begin_write(1)
    outcome: list[object] = []

    def wait() -> None:
        started = time.monotonic()
        try:
            waiter.begin_write(0.2)
        except sqlite3.OperationalError as exc:
            outcome.append((str(exc), time.monotonic() - started))

    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        waiter.begin_write(0)  # no wait at all
    if where == "main thread":
        wait()
    else:
        thread = threading.Thread(target=wait)
        thread.start()
        thread.join(timeout=5)
    [(message, waited)] = outcome
    assert message == "database is locked" and 0.15 < waited < 2
    holder.rollback()
    waiter.begin_write(1)  # the failed wait left no lock behind, on either side
    waiter.rollback()
    holder.close()
    waiter.close()


def test_begin_write_turns_the_reader_into_the_writer(sqlite_database):
    session = sqlite_database.sessionmaker()
    db.begin_read(session)
    assert session.scalar(text("SELECT n FROM t")) == 1
    raw = session.connection().connection.dbapi_connection
    assert raw.in_transaction  # a plain reader so far
    other = sqlite3.connect(sqlite_database.engine.url.database, factory=QueuedConnection)
    other.isolation_level = None
    other.begin_write(1)  # the reader does not hold writers up
    other.rollback()
    db.begin_write(session)
    session.execute(text("UPDATE t SET n = 5"))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.begin_write(0.1)  # now this session is the writer
    session.commit()
    session.close()
    other.begin_write(1)
    assert other.execute("SELECT n FROM t").fetchone() == (5,)
    other.rollback()
    other.close()


def test_a_tap_that_cannot_get_the_writer_lock_in_time_is_a_503(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fvh.sqlite3'}"
    database = Database(url)
    migrate.upgrade(database.engine)
    builder = Builder(database)
    builder.token(builder.member(code="4000000005", balance_cents=1000), b"\x04\x09")
    headers = {"X-API-Key": builder.api_key()}
    tap = {"token": base64.b64encode(b"\x04\x09").decode(), "beschreibung": "Theke"}
    app = create_app(
        {"DATABASE_URL": url, "APP_SECRET": "x" * 32, "DATA_DIR": str(tmp_path), "TESTING": True}
    )
    client = app.test_client()
    assert client.put("/api/nfc-transaktion", json=tap, headers=headers).status_code == 200
    monkeypatch.setattr(db.engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = database.sessionmaker()
    holder.execute(text("UPDATE members SET comment = 'busy'"))  # holds the writer lock
    refused = client.put("/api/nfc-transaktion", json=tap, headers=headers)
    assert refused.status_code == 503 and list(refused.get_json()) == ["error"]
    holder.rollback()
    holder.close()
    booked = client.put("/api/nfc-transaktion", json=tap, headers=headers)
    assert booked.status_code == 200 and booked.get_json()["saldo"] == 8
    app.extensions["fvh_db"].dispose()
    database.dispose()


def test_a_malformed_tap_is_answered_without_waiting_for_the_writer(tmp_path, monkeypatch):
    """A 400 needs no write: it is answered while another connection holds the writer lock."""
    url = f"sqlite:///{tmp_path / 'fvh.sqlite3'}"
    database = Database(url)
    migrate.upgrade(database.engine)
    headers = {"X-API-Key": Builder(database).api_key()}
    app = create_app(
        {"DATABASE_URL": url, "APP_SECRET": "x" * 32, "DATA_DIR": str(tmp_path), "TESTING": True}
    )
    client = app.test_client()
    client.get("/api/version", headers=headers)  # the key's first use is written
    monkeypatch.setattr(db.engine, "SQLITE_BUSY_TIMEOUT_MS", 2000)
    holder = database.sessionmaker()
    holder.execute(text("UPDATE members SET comment = 'busy'"))  # holds the writer lock
    try:
        started = time.monotonic()
        for body in ({"token": "not base64!"}, {}, [1]):
            refused = client.put("/api/nfc-transaktion", json=body, headers=headers)
            assert refused.status_code == 400, refused.get_json()
        assert time.monotonic() - started < 1.0
    finally:
        holder.rollback()
        holder.close()
        app.extensions["fvh_db"].dispose()
        database.dispose()


def test_a_lock_file_that_cannot_be_opened_leaves_sqlite_locking_alone(tmp_path):
    path = tmp_path / "plain.sqlite3"
    # A link into a folder that doesn't exist: the lock file can't be created.
    (tmp_path / "plain.sqlite3-writer.lock").symlink_to(tmp_path / "missing" / "lock")
    connection = sqlite3.connect(path, factory=QueuedConnection, isolation_level=None)
    connection.begin_write(1)
    connection.execute("CREATE TABLE t (n INTEGER)")
    connection.commit()
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
    connection.close()


def test_a_tap_reads_the_settings_with_its_token_or_member(build, database):
    """The settings that ride along with the token or member lookup (one JSON object) are
    those `load` reads: stored values typed, the rest defaults; unknown token or code:
    nothing."""
    from fvh.core import system_settings

    member = build.member(code="4000000010", balance_cents=1000)
    build.token(member, b"\x04\x10")
    with database.session() as session:
        assert (
            db.fetch(session, tokens.owner_lookup(b"\x04\x10"))[1]
            == system_settings.SystemSettings()
        )
        system_settings.update(
            session,
            TERMINAL,
            default_amount_cents=-150,
            min_balance_cents=-500,
            currency="Striche",
            self_registration=True,
            organisation_name='FF "Süd" \\ Nord',  # quotes and a backslash inside JSON
        )
    with database.session() as session:
        stored = system_settings.load(session)
        token, by_token = db.fetch(session, tokens.owner_lookup(b"\x04\x10"))
        card, by_code = db.fetch(session, members.holder_lookup("4000000010"))
        assert by_token == by_code == stored
        assert (stored.default_amount_cents, stored.min_balance_cents) == (-150, -500)
        assert (stored.currency, stored.self_registration, stored.decimals) == ("Striche", True, 2)
        assert stored.organisation_name == 'FF "Süd" \\ Nord'
        assert token.member == card and card.code == "4000000010"
        assert db.fetch(session, tokens.owner_lookup(b"\x04\x11")) is None
        assert db.fetch(session, members.holder_lookup("4000000011")) is None
