"""The walking skeleton: intake records, tickets, articles, events, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _enum(*values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, length=32)


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "intake_record",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("envelope_sender", sa.String(998), nullable=False),
        sa.Column("envelope_recipients", sa.JSON(), nullable=False),
        sa.Column("adapter", sa.String(16), nullable=False),
        sa.Column("received_at", _when(), nullable=False),
        sa.Column(
            "status", _enum("pending", "processed", "duplicate", "quarantined"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _when(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("processed_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_record")),
    )
    op.create_index(op.f("ix_intake_record_sha256"), "intake_record", ["sha256"])
    op.create_index(op.f("ix_intake_record_message_id"), "intake_record", ["message_id"])
    op.create_index("ix_intake_record_status_next", "intake_record", ["status", "next_attempt_at"])

    op.create_table(
        "ref_counter",
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_ref_counter")),
    )

    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column(
            "type",
            _enum("incident", "service_request", "problem", "change", "release"),
            nullable=False,
        ),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("requester", sa.String(320), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket")),
        sa.UniqueConstraint("ref", name=op.f("uq_ticket_ref")),
    )
    op.create_index(op.f("ix_ticket_queue"), "ticket", ["queue"])
    op.create_index(op.f("ix_ticket_requester"), "ticket", ["requester"])

    op.create_table(
        "article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            _enum("inbound_reply", "outbound_reply", "internal_note", "notification"),
            nullable=False,
        ),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("thread_key", sa.String(32), nullable=False),
        sa.Column("intake_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_article_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intake_record.id"], name=op.f("fk_article_intake_id_intake_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
    )
    op.create_index(op.f("ix_article_ticket_id"), "article", ["ticket_id"])
    op.create_index(op.f("ix_article_intake_id"), "article", ["intake_id"])
    op.create_index("ix_article_message_id_sha256", "article", ["message_id", "sha256"])

    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_event_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index(op.f("ix_event_ticket_id"), "event", ["ticket_id"])

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", _enum("pending", "sent", "failed"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _when(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("sent_at", _when(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_outbox_message_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_outbox_message_event_id_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_message_id")),
    )
    op.create_index(op.f("ix_outbox_message_ticket_id"), "outbox_message", ["ticket_id"])
    op.create_index(
        "ix_outbox_message_status_next", "outbox_message", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    for table in ("outbox_message", "event", "article", "ticket", "ref_counter", "intake_record"):
        op.drop_table(table)
