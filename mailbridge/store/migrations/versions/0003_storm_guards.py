"""Storm guards: why the requester gets no automatic mail; an index on Outlook conversations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("requester_silenced", sa.String(200), nullable=True))
        batch.create_index("ix_ticket_thread_base", ["thread_base"])


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_thread_base")
        batch.drop_column("requester_silenced")
