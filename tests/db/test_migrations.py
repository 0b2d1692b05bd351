"""The schema comes from the migrations, and the migrations agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fvh.db import Database, migrate
from fvh.db.models import Base


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
