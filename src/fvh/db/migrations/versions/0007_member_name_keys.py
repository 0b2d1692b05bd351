"""members' search and sort keys (names folded by German rules), filled for existing members

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

# The rule itself: it lives in one place, and a change of it comes with a migration that fills
# the keys again by calling it.
from fvh.core import names

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH_SIZE = 500
SORT_KEY = (
    sa.String(length=700)
    .with_variant(
        mysql.VARCHAR(length=700, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )
    .with_variant(postgresql.VARCHAR(length=700, collation="C"), "postgresql")
)

_members = sa.table(
    "members",
    sa.column("id", sa.Integer),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("email", sa.String),
    sa.column("comment", sa.String),
    sa.column("search_key", sa.String),
    sa.column("sort_key", sa.String),
)


def upgrade() -> None:
    # NOT NULL with a default "" lets every backend add the columns in place: SQLite would
    # otherwise copy the table, and dropping the old one cascades into the journal.
    op.add_column(
        "members",
        sa.Column("search_key", sa.String(length=2000), server_default="", nullable=False),
    )
    op.add_column("members", sa.Column("sort_key", SORT_KEY, server_default="", nullable=False))
    _fill_keys(op.get_bind())
    op.create_index(op.f("ix_members_sort_key"), "members", ["sort_key"], unique=False)


def _fill_keys(conn: sa.Connection) -> None:
    """Every member's keys, computed in Python a batch of rows at a time."""
    update = (
        sa.update(_members)
        .where(_members.c.id == sa.bindparam("member_id"))
        .values(search_key=sa.bindparam("search"), sort_key=sa.bindparam("sort"))
    )
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(
                _members.c.id,
                _members.c.first_name,
                _members.c.last_name,
                _members.c.email,
                _members.c.comment,
            )
            .where(_members.c.id > last_id)
            .order_by(_members.c.id)
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return
        conn.execute(
            update,
            [
                {
                    "member_id": row.id,
                    "search": names.search_key(
                        row.first_name, row.last_name, row.email, row.comment
                    ),
                    "sort": names.sort_key(row.last_name, row.first_name),
                }
                for row in rows
            ],
        )
        last_id = rows[-1].id


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35), not batch mode: copying `members` on SQLite would
    # drop the old table and cascade into tokens and journal.
    op.drop_index(op.f("ix_members_sort_key"), table_name="members")
    op.drop_column("members", "sort_key")
    op.drop_column("members", "search_key")
