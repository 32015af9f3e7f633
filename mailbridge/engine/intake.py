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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from mailbridge.clock import Clock
from mailbridge.engine.followups import FollowUp, take_followups
from mailbridge.engine.openings import Opening, open_tickets
from mailbridge.engine.people import watchers_from
from mailbridge.engine.threads import decide_all
from mailbridge.engine.tickets import lock_counters
from mailbridge.events import TicketEvent
from mailbridge.rfc3834 import never_answered
from mailbridge.settings import QueueSettings, Settings
from mailbridge.signing import Signer
from mailbridge.store import Store
from mailbridge.store.models import Article, IntakeRecord, IntakeStatus, Ticket
from parsers import Classification, ParsedMail, peek

# Headers an MTA or a forwarding rule leaves naming the address a piped mail was for.
_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To")


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingMail:
    """A mail as an adapter received it: bytes and envelope, copied out of the library."""

    raw: bytes
    envelope_sender: str
    envelope_recipients: tuple[str, ...]
    adapter: str
    origin: str | None = None  # where it can be taken again from (IMAP), if anywhere


def receive(store: Store, mail: IncomingMail, clock: Clock) -> int:
    """Commit the raw mail and its intake record; return the record's id.

    Raises StoreUnavailable when it could not commit: the adapter must then not
    acknowledge the mail (451, exit 75) so the sender retries.
    """
    return receive_many(store, [mail], clock)[0]


def receive_many(store: Store, mails: Sequence[IncomingMail], clock: Clock) -> list[int]:
    """Commit several mails in one transaction (one fsync); return their ids in order.

    All or nothing: on StoreUnavailable none of them may be acknowledged. A
    Core insert, not the ORM: this runs once per mail received, before the 250.
    """
    now = clock.now()
    rows = [
        {
            "raw": mail.raw,
            "sha256": hashlib.sha256(mail.raw).hexdigest(),
            "message_id": peek.message_id(mail.raw),
            "envelope_sender": mail.envelope_sender[:998],
            "envelope_recipients": list(mail.envelope_recipients),
            "adapter": mail.adapter,
            "received_at": now,
            "status": IntakeStatus.PENDING.value,
            "attempts": 0,
            "origin": mail.origin,
        }
        for mail in mails
    ]
    statement = insert(IntakeRecord).returning(IntakeRecord.id, sort_by_parameter_order=True)
    with store.connection() as connection:
        return list(connection.execute(statement, rows).scalars())


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


@dataclass(frozen=True, slots=True)
class Claimed:
    """What taking a record needs of it: plain values, not an ORM object whose
    per-object bookkeeping costs more than the work itself in a batch."""

    id: int
    sha256: str
    envelope_sender: str
    envelope_recipients: list[str]


def claim(session: Session, ids: Sequence[int]) -> list[Claimed]:
    """Lock the still-pending records among `ids` for this transaction.

    On PostgreSQL rows another node holds are skipped (SKIP LOCKED); on SQLite
    the transaction already holds the database's write lock. The raw bytes are
    not loaded again: the caller parsed them already.
    """
    query = (
        select(
            IntakeRecord.id,
            IntakeRecord.sha256,
            IntakeRecord.envelope_sender,
            IntakeRecord.envelope_recipients,
        )
        .where(IntakeRecord.id.in_(ids), IntakeRecord.status == IntakeStatus.PENDING)
        .order_by(IntakeRecord.id)
        .with_for_update(skip_locked=True)
    )
    return [Claimed(*row) for row in session.execute(query)]


def take_all(
    session: Session,
    batch: Sequence[tuple[Claimed, ParsedMail]],
    settings: Settings,
    signer: Signer,
    now: datetime,
) -> list[TicketEvent]:
    """Take each mail onto the ticket it continues, or open one per queue it was for.

    A mail that answers another mail of the same batch waits for a later round,
    so the ticket its parent opens is there to be found.
    """
    events: list[TicketEvent] = []
    for round_ in _rounds(batch):
        events += _take_round(session, round_, settings, signer, now)
    return events


def _rounds(
    batch: Sequence[tuple[Claimed, ParsedMail]],
) -> list[list[tuple[Claimed, ParsedMail]]]:
    rounds: list[list[tuple[Claimed, ParsedMail]]] = [[]]
    seen: set[str] = set()
    for record, parsed in batch:
        parents = {parsed.in_reply_to, *parsed.references} - {None}
        if parents & seen:
            rounds.append([])
            seen = set()
        rounds[-1].append((record, parsed))
        if parsed.message_id:
            seen.add(parsed.message_id)
    return [r for r in rounds if r]


def _take_round(
    session: Session,
    batch: Sequence[tuple[Claimed, ParsedMail]],
    settings: Settings,
    signer: Signer,
    now: datetime,
) -> list[TicketEvent]:
    openings: list[Opening] = []
    followups: list[FollowUp] = []
    outcomes: list[dict[str, Any]] = []
    targets = [target_queues(record, parsed, settings) for record, parsed in batch]
    # Hold the counters of the prefixes we may use before looking for duplicates:
    # another node taking the same mail in the same instant then waits for our
    # commit, and its dedupe query sees our tickets (PostgreSQL, READ COMMITTED).
    lock_counters(session, {q.prefix for queues in targets for q in queues})
    batch = [(record, _without_our_id(parsed, signer)) for record, parsed in batch]
    taken = _taken_keys(
        session,
        {record.sha256 for record, _ in batch},
        {parsed.message_id for _, parsed in batch if parsed.message_id},
    )
    decisions = decide_all(
        session,
        [(parsed, record.envelope_recipients) for record, parsed in batch],
        settings,
        signer,
        now,
    )
    for (record, parsed), queues, decision in zip(batch, targets, decisions, strict=True):
        sender = parsed.sender or record.envelope_sender or "unknown@invalid"
        if decision.found is not None:
            queues = [settings.queue_for(decision.found.ticket.queue) or queues[0]]
        fresh = [q for q in queues if _first_time(taken, parsed.message_id, record.sha256, q)]
        if decision.found is not None and parsed.message_id:
            # A follow-up is the same mail if its Message-ID is on that ticket already,
            # whatever a second delivery added to its bytes (another Delivered-To).
            key = ("ticket", parsed.message_id, decision.found.ticket.id)
            fresh = fresh if key not in taken else []
            taken.add(key)
        if decision.found is not None and fresh:
            followups.append(
                FollowUp(
                    record.id,
                    record.sha256,
                    parsed,
                    sender,
                    record.envelope_sender,
                    decision.found,
                )
            )
        elif fresh:
            answerable, why = may_answer(parsed, record.envelope_sender, settings)
            watchers = tuple(watchers_from(parsed, settings, besides=[sender]))
            openings += [
                Opening(
                    record.id,
                    record.sha256,
                    parsed,
                    queue,
                    sender,
                    answerable,
                    why,
                    decision,
                    watchers,
                )
                for queue in fresh
            ]
        outcomes.append(
            {
                "id": record.id,
                "status": IntakeStatus.PROCESSED if fresh else IntakeStatus.DUPLICATE,
                "processed_at": now,
                "error": None,
            }
        )
    if outcomes:
        session.execute(update(IntakeRecord), outcomes)  # one executemany by primary key
    events: list[TicketEvent] = list(open_tickets(session, openings, now))
    events += take_followups(session, followups, settings, now)
    return events


def _first_time(
    taken: set[tuple[str | int | None, ...]],
    message_id: str | None,
    sha256: str,
    queue: QueueSettings,
) -> bool:
    """Whether this mail is not on a ticket of this queue yet; remember it now."""
    key = (message_id, sha256, queue.address)
    if key in taken or (message_id is None and key[1:] in taken):
        return False
    taken.update((key, key[1:]))  # the same mail twice in one batch
    return True


def _taken_keys(
    session: Session, hashes: set[str], message_ids: set[str]
) -> set[tuple[str | int | None, ...]]:
    """Keys of mails already on a ticket: (Message-ID, hash, queue), (hash, queue),
    and ("ticket", Message-ID, ticket id).

    Same Message-ID and same bytes is the same mail delivered again (an SMTP
    retry after a lost 250, an IMAP re-fetch); a mail without a Message-ID
    dedupes on its bytes alone.
    """
    keys: set[tuple[str | int | None, ...]] = set()
    if hashes:
        query = (
            select(Article.message_id, Article.sha256, Ticket.queue)
            .join(Ticket, Article.ticket_id == Ticket.id)
            .where(Article.sha256.in_(hashes))
        )
        for message_id, sha256, queue in session.execute(query):
            keys.add((message_id, sha256, queue))
            keys.add((sha256, queue))
    if message_ids:
        on_tickets = select(Article.message_id, Article.ticket_id).where(
            Article.message_id.in_(message_ids)
        )
        keys.update(("ticket", mid, ticket_id) for mid, ticket_id in session.execute(on_tickets))
    return keys


def _without_our_id(parsed: ParsedMail, signer: Signer) -> ParsedMail:
    """The mail, without its Message-ID if that is one of ours: a mail claiming
    one of our ids as its own must not become a key to our ticket."""
    if parsed.message_id and signer.ref_of_message_id(parsed.message_id):
        return replace(parsed, message_id=None)
    return parsed


def target_queues(record: Claimed, parsed: ParsedMail, settings: Settings) -> list[QueueSettings]:
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


def may_answer(parsed: ParsedMail, envelope_sender: str, settings: Settings) -> tuple[bool, str]:
    """Whether an automatic mail may go to this sender, and why not (RFC 3834 section 2)."""
    if not envelope_sender.strip() or envelope_sender.strip() == "<>":
        return False, "empty envelope sender"
    if parsed.classification is not Classification.HUMAN:
        return False, f"{parsed.classification.value}: {parsed.classification_reason}"
    if parsed.sender is None:
        return False, "no usable From address"
    if (why := never_answered(parsed.sender)) is not None:
        return False, why
    if settings.agent(parsed.sender) is not None:
        return False, "an agent: agents get no automatic mail"
    own = settings.own_addresses
    if parsed.sender.lower() in own or envelope_sender.lower() in own:
        return False, "mail from our own address"
    domains = {q.address.rpartition("@")[2].lower() for q in settings.queues}
    if any(m.split(" ")[0].lower() in domains for m in parsed.loop_markers):
        return False, "mail carrying our own loop marker"
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
