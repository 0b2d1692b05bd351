"""refused taps: blocked, locked and unknown taps with terminal, time and reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_taps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("terminal", sa.String(length=255), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("balance_cents", sa.BigInteger(), nullable=True),
        sa.Column("presented", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_refused_taps_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_refused_taps_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refused_taps")),
    )
    with op.batch_alter_table("refused_taps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refused_taps_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_refused_taps_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_table("refused_taps")  # with its indexes (MariaDB won't drop one an FK needs)
