"""Intake: keep every mail first, then turn each kept mail into tickets once.

`receive` is what adapters call: it commits the raw bytes and an intake record
and nothing else, so the adapter can acknowledge (250, exit 0, IMAP move) as
soon as it returns. `take` is what the worker calls on a committed record
inside its own transaction: it decides which queues the mail opens tickets in,
skips what was already taken (dedupe on Message-ID plus content hash), and
returns the events for notifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.clock import Clock
from mailbridge.engine.tickets import add_article, open_ticket
from mailbridge.events import TicketOpened
from mailbridge.settings import QueueSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import Article, ArticleKind, Event, IntakeRecord, IntakeStatus, Ticket
from mailbridge.store.models import TicketType as TicketTypeEnum
from parsers import Classification, ParsedMail

_NEVER_ANSWER_LOCALPARTS = frozenset(
    {
        "mailer-daemon",
        "postmaster",
        "mail-daemon",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
    }
)
# Headers an MTA or a forwarding rule leaves naming the address a piped mail was for.
_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To")


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingMail:
    """A mail as an adapter received it: bytes and envelope, copied out of the library."""

    raw: bytes
    envelope_sender: str
    envelope_recipients: tuple[str, ...]
    adapter: str


def receive(store: Store, mail: IncomingMail, clock: Clock) -> int:
    """Commit the raw mail and its intake record; return the record's id.

    Raises StoreUnavailable when it could not commit: the adapter must then not
    acknowledge the mail (451, exit 75) so the sender retries.
    """
    with store.transaction() as session:
        record = IntakeRecord(
            raw=mail.raw,
            sha256=hashlib.sha256(mail.raw).hexdigest(),
            message_id=_sniff_message_id(mail.raw),
            envelope_sender=mail.envelope_sender[:998],
            envelope_recipients=list(mail.envelope_recipients),
            adapter=mail.adapter,
            received_at=clock.now(),
            status=IntakeStatus.PENDING,
            attempts=0,
        )
        session.add(record)
        session.flush()
        return record.id


def _sniff_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block, cheaply, for dedupe lookups; no full parse."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65536]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    for i, line in enumerate(lines):
        if line[:11].lower() == b"message-id:":
            value = line[11:]
            for cont in lines[i + 1 :]:
                if cont[:1] not in (b" ", b"\t"):
                    break
                value += cont
            text = value.decode("ascii", errors="replace").strip()
            start, end = text.find("<"), text.find(">")
            if 0 <= start < end and " " not in text[start:end]:
                return text[start : end + 1][:998]
            return None
    return None


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of pending records whose turn has come, oldest first."""
    query = (
        select(IntakeRecord.id)
        .where(IntakeRecord.status == IntakeStatus.PENDING)
        .where((IntakeRecord.next_attempt_at.is_(None)) | (IntakeRecord.next_attempt_at <= now))
        .order_by(IntakeRecord.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim(session: Session, ids: Sequence[int]) -> list[IntakeRecord]:
    """Lock the still-pending records among `ids` for this transaction.

    On PostgreSQL rows another node holds are skipped (SKIP LOCKED); on SQLite
    the transaction already holds the database's write lock.
    """
    query = (
        select(IntakeRecord)
        .where(IntakeRecord.id.in_(ids), IntakeRecord.status == IntakeStatus.PENDING)
        .order_by(IntakeRecord.id)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def take(
    session: Session, record: IntakeRecord, parsed: ParsedMail, settings: Settings, now: datetime
) -> list[TicketOpened]:
    """Open a ticket per queue this mail was for, unless that queue already has it."""
    events: list[TicketOpened] = []
    requester = parsed.sender or record.envelope_sender or "unknown@invalid"
    answerable, why = may_answer(parsed, record.envelope_sender, settings)
    for queue in target_queues(record, parsed, settings):
        if _already_taken(session, parsed.message_id, record.sha256, queue.address):
            continue
        ticket = open_ticket(
            session,
            ticket_type=TicketTypeEnum(queue.type),
            prefix=queue.prefix,
            queue=queue.address,
            subject=parsed.subject or "(no subject)",
            requester=requester,
            now=now,
        )
        add_article(
            session,
            ticket,
            kind=ArticleKind.INBOUND_REPLY,
            sender=requester,
            subject=parsed.subject,
            text=parsed.text,
            thread_key="new",
            now=now,
            message_id=parsed.message_id,
            sha256=record.sha256,
            intake_id=record.id,
        )
        event = Event(
            ticket_id=ticket.id,
            kind="ticket.opened",
            data={
                "intake_id": record.id,
                "classification": parsed.classification.value,
                "acknowledge": answerable,
                "silence_reason": why,
            },
            created_at=now,
        )
        session.add(event)
        session.flush()
        events.append(
            TicketOpened(
                event_id=event.id,
                ticket_id=ticket.id,
                ref=ticket.ref,
                queue=queue.address,
                subject=ticket.subject,
                requester=requester,
                language=parsed.language,
                inbound_message_id=parsed.message_id,
                inbound_references=parsed.references,
                acknowledge=answerable,
                silence_reason=why,
            )
        )
    record.status = IntakeStatus.PROCESSED if events else IntakeStatus.DUPLICATE
    record.processed_at = now
    record.error = None
    return events


def target_queues(
    record: IntakeRecord, parsed: ParsedMail, settings: Settings
) -> list[QueueSettings]:
    """The queues a mail is for: its envelope recipients we serve, else the
    addresses its headers were delivered to, else the first queue (a pipe
    without --queue)."""
    found: dict[str, QueueSettings] = {}
    for address in record.envelope_recipients:
        queue = settings.queue_for(address)
        if queue is not None:
            found.setdefault(queue.address, queue)
    if not found:
        for address in (*parsed.to, *parsed.cc):
            queue = settings.queue_for(address)
            if queue is not None:
                found.setdefault(queue.address, queue)
    return list(found.values()) or [settings.queues[0]]


def _already_taken(session: Session, message_id: str | None, sha256: str, queue: str) -> bool:
    # Same Message-ID and same bytes: the same mail delivered again (an SMTP retry
    # after a lost 250, an IMAP re-fetch). A mail without Message-ID dedupes on bytes.
    query = (
        select(Article.id)
        .join(Ticket, Article.ticket_id == Ticket.id)
        .where(Article.sha256 == sha256, Ticket.queue == queue)
        .limit(1)
    )
    if message_id is not None:
        query = query.where(Article.message_id == message_id)
    return session.scalar(query) is not None


def may_answer(parsed: ParsedMail, envelope_sender: str, settings: Settings) -> tuple[bool, str]:
    """Whether an automatic mail may go to this sender, and why not (RFC 3834 section 2)."""
    if not envelope_sender.strip() or envelope_sender.strip() == "<>":
        return False, "empty envelope sender"
    if parsed.classification is not Classification.HUMAN:
        return False, f"{parsed.classification.value}: {parsed.classification_reason}"
    if parsed.sender is None:
        return False, "no usable From address"
    local = parsed.sender.rpartition("@")[0].lower()
    if local in _NEVER_ANSWER_LOCALPARTS:
        return False, f"sender {local}@… never gets automatic mail"
    own = settings.own_addresses
    if parsed.sender.lower() in own or envelope_sender.lower() in own:
        return False, "mail from our own address"
    return True, ""


def record_failure(
    record: IntakeRecord, reason: str, *, permanent: bool, now: datetime, max_attempts: int
) -> None:
    """Count a failed attempt: retry later with backoff, or quarantine with the reason."""
    record.attempts += 1
    record.error = reason[:4000]
    if permanent or record.attempts >= max_attempts:
        record.status = IntakeStatus.QUARANTINED
        record.next_attempt_at = None
    else:
        record.next_attempt_at = now + timedelta(seconds=min(3600, 5 * 4**record.attempts))


def retry_quarantined(session: Session, record_id: int) -> bool:
    """Put a quarantined record back in line; False if it is not quarantined."""
    record = session.get(IntakeRecord, record_id)
    if record is None or record.status is not IntakeStatus.QUARANTINED:
        return False
    record.status = IntakeStatus.PENDING
    record.attempts = 0
    record.next_attempt_at = None
    return True
