"""login attempts: the GUI login log and the source of its rate limit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_login_attempts_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_attempts_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_attempts_identifier"), ["identifier"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_attempts_ip_address"), ["ip_address"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_attempts_member_id"), ["member_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_member_id"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_ip_address"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_identifier"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_created_at"))
    op.drop_table("login_attempts")
