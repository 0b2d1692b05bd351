"""The schema comes from the migrations, and the migrations agree with the models."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, func, inspect, select

from fvh.core import members, names
from fvh.db import Database, migrate
from fvh.db.models import Base, Member
from tests.conftest import BACKENDS, create_server_database, drop_server_database


def test_models_and_migrations_agree(database_url):
    database = Database(database_url)
    try:
        assert migrate.is_up_to_date(database.engine)
        with database.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        database.dispose()


def test_upgrade_on_fresh_database_creates_every_table(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        assert migrate.current_revision(database.engine) is None
        migrate.upgrade(database.engine)
        migrate.upgrade(database.engine)  # idempotent
        tables = set(inspect(database.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert migrate.current_revision(database.engine) == migrate.head_revision(database.engine)
    finally:
        database.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path, worker_id):
    """A new database without schema on each backend, dropped afterwards."""
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"fvh_mig_{worker_id}_{uuid.uuid4().hex[:8]}"
    url = create_server_database(backend, name)
    yield url
    drop_server_database(backend, name)


# (first, last) of members that exist before revision 0007; more than one backfill batch.
OLD_MEMBERS = [("Mehmet", "Öztürk"), ("Zoë", "Weiß"), ("Karin", "Äbele"), ("Max", "Strauß")]
OLD_MEMBERS += [(f"Vorname{i}", f"Nachname{i:04d}") for i in range(1100)]


def test_0007_fills_the_name_keys_of_existing_members_and_goes_back(empty_database_url):
    database = Database(empty_database_url)  # foreign keys on, as in production
    try:
        migrate.upgrade(database.engine, "0006")
        table = MetaData()
        table.reflect(bind=database.engine, only=["members", "tokens"])
        old_members, old_tokens = table.tables["members"], table.tables["tokens"]
        now = datetime(2026, 1, 1)
        rows = [
            {
                "code": f"{i:010d}",
                "first_name": first,
                "last_name": last,
                "email": f"p{i}@example.org" if i % 2 else None,
                "comment": "Kühlschrank" if i == 0 else "",
                "locked": False,
                "is_admin": False,
                "must_change_password": False,
                "balance_cents": 0,
                "session_version": 1,
                "notify_bookings": False,
                "notify_zero": False,
                "notify_low_balance": False,
                "approval_pending": False,
                "created_at": now,
                "updated_at": now,
            }
            for i, (first, last) in enumerate(OLD_MEMBERS)
        ]
        with database.engine.begin() as conn:
            conn.execute(old_members.insert(), rows)
            first_id = conn.scalar(
                select(old_members.c.id).where(old_members.c.code == rows[0]["code"])
            )
            conn.execute(
                old_tokens.insert(),
                {"member_id": first_id, "data": b"\x04\xa2", "name": "Chip", "created_at": now},
            )

        migrate.upgrade(database.engine, "0007")
        with database.session() as s:
            stored = {m.code: m for m in s.scalars(select(Member))}
            for row in rows:
                member = stored[row["code"]]
                assert member.sort_key == names.sort_key(row["last_name"], row["first_name"])
                assert member.search_key == names.search_key(
                    row["first_name"], row["last_name"], row["email"], row["comment"]
                )
            assert _search(s, "ÖZTÜRK") == ["Öztürk"]
            assert _search(s, "kuhlschrank") == ["Öztürk"]
            listed = members.search(s, sort="name", limit=3).rows
            assert [m.last_name for m in listed] == ["Äbele", "Nachname0000", "Nachname0001"]
        indexes = {i["name"] for i in inspect(database.engine).get_indexes("members")}
        assert "ix_members_sort_key" in indexes

        migrate.upgrade(database.engine, "head")
        command.downgrade(migrate.alembic_config(database.engine), "0006")
        columns = {c["name"] for c in inspect(database.engine).get_columns("members")}
        assert not columns & {"search_key", "sort_key"}
        with database.engine.connect() as conn:  # nothing cascaded away on the way down
            assert conn.scalar(select(func.count()).select_from(old_members)) == len(rows)
            assert conn.scalar(select(func.count()).select_from(old_tokens)) == 1
        migrate.upgrade(database.engine)
        assert migrate.is_up_to_date(database.engine)
    finally:
        database.dispose()


def _search(session, text):
    return [m.last_name for m in members.search(session, text, limit=None).rows]
