"""a server-generated reference on every journal row, to find a booking after a lost commit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_transactions_ref"), ["ref"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_ref"))
        batch_op.drop_column("ref")
