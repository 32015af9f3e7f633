"""IMAP intake: where each intake record came from, and each mailbox's position;
which articles are automatic mail (never the parent our replies answer).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intake_record") as batch:
        batch.add_column(sa.Column("origin", sa.String(600), nullable=True))
        batch.create_index("ix_intake_record_origin", ["origin"])
    with op.batch_alter_table("article") as batch:
        batch.add_column(
            sa.Column("automatic", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "imap_state",
        sa.Column("mailbox", sa.String(600), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_imap_state")),
    )


def downgrade() -> None:
    op.drop_table("imap_state")
    with op.batch_alter_table("article") as batch:
        batch.drop_column("automatic")
    with op.batch_alter_table("intake_record") as batch:
        batch.drop_index("ix_intake_record_origin")
        batch.drop_column("origin")
