"""The conversation: owners, priorities, watchers, links, the rate limit, the secret.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # batch: SQLite cannot add an index-backed column set otherwise (and it is a no-op on PG).
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("owner", sa.String(320), nullable=True))
        batch.add_column(
            sa.Column("priority", sa.String(16), server_default="normal", nullable=False)
        )
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
        batch.add_column(sa.Column("status_changed_at", _when(), nullable=True))
        batch.add_column(sa.Column("reminded_at", _when(), nullable=True))
        batch.add_column(sa.Column("thread_base", sa.String(64), nullable=True))
        batch.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch.create_index("ix_ticket_status_changed", ["status", "status_changed_at"])
    with op.batch_alter_table("article") as batch:
        batch.add_column(sa.Column("thread_note", sa.String(998), nullable=True))

    op.create_table(
        "watcher",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_watcher_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watcher")),
        sa.UniqueConstraint("ticket_id", "address", name=op.f("uq_watcher_ticket_id")),
    )
    op.create_index(op.f("ix_watcher_address"), "watcher", ["address"])

    op.create_table(
        "ticket_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_link_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["other_id"], ["ticket.id"], name=op.f("fk_ticket_link_other_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_link")),
    )
    op.create_index(op.f("ix_ticket_link_ticket_id"), "ticket_link", ["ticket_id"])
    op.create_index(op.f("ix_ticket_link_other_id"), "ticket_link", ["other_id"])

    op.create_table(
        "automatic_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sent_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automatic_mail")),
    )
    op.create_index("ix_automatic_mail_address_sent", "automatic_mail", ["address", "sent_at"])

    op.create_table(
        "undeliverable_address",
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("since", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_undeliverable_address_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_undeliverable_address")),
    )

    installation = op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.bulk_insert(
        installation,
        [{"id": 1, "secret": secrets.token_hex(32), "created_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    for table in ("installation", "undeliverable_address", "automatic_mail", "ticket_link"):
        op.drop_table(table)
    op.drop_table("watcher")
    with op.batch_alter_table("article") as batch:
        batch.drop_column("thread_note")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_status_changed")
        for column in (
            "conversation_id",
            "thread_base",
            "reminded_at",
            "language",
            "status_changed_at",
            "owner",
            "priority",
        ):
            batch.drop_column(column)
