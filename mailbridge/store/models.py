"""The tables, as typed SQLAlchemy models: one schema for SQLite and PostgreSQL.

Migrations in `migrations/versions/` create these tables; a test compares the
migrated schema with these models so the two never drift apart.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: SQLite drops tzinfo, PostgreSQL keeps it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class IntakeStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


class TicketType(enum.StrEnum):
    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"
    PROBLEM = "problem"
    CHANGE = "change"
    RELEASE = "release"


class ArticleKind(enum.StrEnum):
    INBOUND_REPLY = "inbound_reply"  # a mail that reached us, the first one included
    OUTBOUND_REPLY = "outbound_reply"
    INTERNAL_NOTE = "internal_note"
    NOTIFICATION = "notification"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def _enum(cls: type[enum.StrEnum]) -> Enum:
    # Stored as plain strings (no native PostgreSQL ENUM): adding a value later is a
    # code change, not a schema migration.
    return Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 -- SQLAlchemy reads a class attribute
        datetime: UtcDateTime(),
        IntakeStatus: _enum(IntakeStatus),
        TicketType: _enum(TicketType),
        ArticleKind: _enum(ArticleKind),
        OutboxStatus: _enum(OutboxStatus),
    }


class IntakeRecord(Base):
    """One mail as it reached us, kept before anything else happens to it."""

    __tablename__ = "intake_record"
    __table_args__ = (Index("ix_intake_record_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    envelope_sender: Mapped[str] = mapped_column(String(998))
    envelope_recipients: Mapped[list[str]] = mapped_column(JSON)
    adapter: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    status: Mapped[IntakeStatus] = mapped_column(default=IntakeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class RefCounter(Base):
    """The last ticket number handed out per prefix; bumped inside the ticket's transaction."""

    __tablename__ = "ref_counter"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[TicketType]
    status: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(998))
    requester: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    articles: Mapped[list[Article]] = relationship(
        back_populates="ticket", order_by="Article.id", cascade="all, delete-orphan"
    )


class Article(Base):
    """One mail or note on a ticket; `thread_key` says how an inbound mail found it."""

    __tablename__ = "article"
    __table_args__ = (Index("ix_article_message_id_sha256", "message_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    kind: Mapped[ArticleKind]
    message_id: Mapped[str | None] = mapped_column(String(998))
    sha256: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text)
    thread_key: Mapped[str] = mapped_column(String(32))
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intake_record.id"), index=True)
    created_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="articles")


class Event(Base):
    """Something that happened to a ticket: the audit trail and what notifiers act on."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A rendered mail waiting for delivery; written in the transaction that caused it."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_status_next", "status", "next_attempt_at"),
        UniqueConstraint("message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    kind: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(998))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[OutboxStatus] = mapped_column(default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
