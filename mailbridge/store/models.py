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
    BigInteger,
    Boolean,
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
from sqlalchemy.sql.expression import false


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
    # Where an adapter took it from, when it can be taken again (IMAP: mailbox,
    # UIDVALIDITY, UID): a re-fetch after a crash finds it and adds no record.
    origin: Mapped[str | None] = mapped_column(String(600), index=True)


class ImapState(Base):
    """How far a mailbox has been read: UIDs above `last_uid` are new to us."""

    __tablename__ = "imap_state"

    mailbox: Mapped[str] = mapped_column(String(600), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class RefCounter(Base):
    """The last ticket number handed out per prefix; bumped inside the ticket's transaction."""

    __tablename__ = "ref_counter"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (Index("ix_ticket_status_changed", "status", "status_changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[TicketType]
    status: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(998))
    requester: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    owner: Mapped[str | None] = mapped_column(String(320))
    priority: Mapped[str] = mapped_column(String(16), server_default="normal")
    # Notifications are written in this language (from the requester's first mail).
    language: Mapped[str | None] = mapped_column(String(16))
    status_changed_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]  # the pending reminder for the current pending spell
    # Outlook's conversation (Thread-Index base, base64), so its client groups our mails.
    thread_base: Mapped[str | None] = mapped_column(String(64), index=True)
    # Why no automatic mail may go to the requester (the first mail was an
    # auto-reply, a bounce, from a noreply address...); None: it may.
    requester_silenced: Mapped[str | None] = mapped_column(String(200))
    # The first ticket of a conversation (NULL: this one). A ticket opened by a
    # stranger's mail naming another shares that one's: acknowledgements are
    # limited per address and conversation.
    conversation_id: Mapped[int | None] = mapped_column(Integer)

    articles: Mapped[list[Article]] = relationship(
        back_populates="ticket", order_by="Article.id", cascade="all, delete-orphan"
    )


class Watcher(Base):
    """Someone kept informed of a ticket: Cc'd on a mail to it, or added by an agent."""

    __tablename__ = "watcher"
    __table_args__ = (UniqueConstraint("ticket_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    address: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]


class TicketLink(Base):
    """`ticket` was opened from `other`: a reply after the reopen window ("follows"),
    or a stranger's mail carrying its tag ("mentions")."""

    __tablename__ = "ticket_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class AutomaticMail(Base):
    """One automatic mail sent to an address: the persisted RFC 3834 rate limit."""

    __tablename__ = "automatic_mail"
    __table_args__ = (Index("ix_automatic_mail_address_sent", "address", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime]


class UndeliverableAddress(Base):
    """An address our mail bounced from: nothing more is sent to it."""

    __tablename__ = "undeliverable_address"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    since: Mapped[datetime]


class Installation(Base):
    """One row: this installation's secret, created by the migration, never logged.

    It signs reply tokens and the ticket tag in our Message-IDs, so a reply is
    trusted to name its ticket; nodes sharing a database share it.
    """

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


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
    # Why the mail landed here, in words: the key that matched and what it named.
    thread_note: Mapped[str | None] = mapped_column(String(998))
    # An auto-reply, a bounce, bulk mail: kept, but never the mail our replies answer.
    automatic: Mapped[bool] = mapped_column(Boolean, server_default=false())
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
