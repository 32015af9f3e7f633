"""Opening tickets for a batch of new mails, with bulk statements.

One counter update per prefix and one insert per table for the whole batch,
whatever its size: per-mail round trips, then the ORM's per-object flush, were
most of the worker's time. A mail that names a ticket it may not write into
(closed past the reopen window, or a stranger's tag) opens a ticket linked to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mailbridge.engine.lifecycle import INITIAL_STATUS
from mailbridge.engine.people import add_watchers
from mailbridge.engine.subjects import topic
from mailbridge.engine.threads import Decision
from mailbridge.engine.tickets import insert_returning_ids, reserve_refs
from mailbridge.events import Conversation, TicketOpened
from mailbridge.settings import QueueSettings
from mailbridge.store.models import Article, ArticleKind, Event, Ticket, TicketLink, TicketType
from parsers import Classification, ParsedMail


@dataclass(frozen=True, slots=True)
class Opening:
    """One ticket to open: a mail, the queue it opens in, and what threading found."""

    intake_id: int
    sha256: str
    parsed: ParsedMail
    queue: QueueSettings
    requester: str
    answerable: bool
    silence_reason: str
    decision: Decision
    watchers: tuple[str, ...]

    @property
    def subject(self) -> str:
        return (self.parsed.subject or "(no subject)")[:998]

    @property
    def conversation_of(self) -> int | None:
        """The conversation a stranger's mail naming a ticket stays in (its
        acknowledgements count there); a late reply starts a conversation of its own."""
        link = self.decision.link
        if link is None or self.decision.link_kind != "mentions":
            return None
        return link.ticket.conversation_id

    @property
    def thread_base(self) -> str | None:
        bases = [k for k in self.parsed.thread_keys if k.startswith("thread-index:")]
        return bases[0].removeprefix("thread-index:")[:64] if bases else None


def open_tickets(
    session: Session, openings: Sequence[Opening], now: datetime
) -> list[TicketOpened]:
    """Insert a ticket, its first article, its watchers and links per opening."""
    if not openings:
        return []
    refs = _refs_for(session, openings)
    ticket_ids = insert_returning_ids(
        session,
        Ticket,
        [
            {
                "ref": ref,
                "type": TicketType(o.queue.type),
                "status": INITIAL_STATUS[TicketType(o.queue.type)],
                "queue": o.queue.address,
                "subject": o.subject,
                "requester": o.requester[:320],
                "created_at": now,
                "updated_at": now,
                "priority": o.queue.priority,
                "language": (o.parsed.language or "")[:16] or None,
                "status_changed_at": now,
                "thread_base": o.thread_base,
                "requester_silenced": None if o.answerable else o.silence_reason[:200],
                "conversation_id": o.conversation_of,
            }
            for o, ref in zip(openings, refs, strict=True)
        ],
    )
    event_ids = insert_returning_ids(
        session,
        Event,
        [
            {
                "ticket_id": ticket_id,
                "kind": "ticket.opened",
                "data": {
                    "intake_id": o.intake_id,
                    "classification": o.parsed.classification.value,
                    "acknowledge": o.answerable,
                    "silence_reason": o.silence_reason,
                    "thread": o.decision.note,
                    **({"linked_to": o.decision.link.ticket.ref} if o.decision.link else {}),
                },
                "created_at": now,
            }
            for o, ticket_id in zip(openings, ticket_ids, strict=True)
        ],
    )
    session.execute(
        insert(Article),
        [
            {
                "ticket_id": ticket_id,
                "kind": ArticleKind.INBOUND_REPLY,
                "message_id": o.parsed.message_id,
                "sha256": o.sha256,
                "sender": o.requester[:320],
                "subject": o.parsed.subject[:998],
                "text": o.parsed.text,
                "thread_key": o.decision.link_kind or "new",
                "thread_note": o.decision.note[:998],
                "intake_id": o.intake_id,
                "automatic": o.parsed.classification is not Classification.HUMAN,
                "created_at": now,
            }
            for o, ticket_id in zip(openings, ticket_ids, strict=True)
        ],
    )
    links = [
        {
            "ticket_id": ticket_id,
            "other_id": o.decision.link.ticket.id,
            "kind": o.decision.link_kind,
            "created_at": now,
        }
        for o, ticket_id in zip(openings, ticket_ids, strict=True)
        if o.decision.link
    ]
    if links:
        session.execute(insert(TicketLink), links)
    add_watchers(
        session,
        [(t, w) for o, t in zip(openings, ticket_ids, strict=True) for w in o.watchers],
        now,
    )
    return [
        TicketOpened(
            event_id=event_id,
            conversation=_conversation(o, ref, ticket_id, now),
            acknowledge=o.answerable,
            silence_reason=o.silence_reason,
        )
        for o, ref, ticket_id, event_id in zip(openings, refs, ticket_ids, event_ids, strict=True)
    ]


def _conversation(o: Opening, ref: str, ticket_id: int, now: datetime) -> Conversation:
    parent = o.parsed.message_id
    return Conversation(
        ticket_id=ticket_id,
        ref=ref,
        ticket_type=o.queue.type,
        status=INITIAL_STATUS[TicketType(o.queue.type)],
        queue=o.queue.address,
        subject=o.subject,
        topic=topic(o.subject),
        requester=o.requester,
        watchers=o.watchers,
        language=o.parsed.language,
        opened_at=now,
        thread_base=o.thread_base,
        conversation_id=o.conversation_of or ticket_id,
        parent_id=parent,
        references=(*o.parsed.references, *([parent] if parent else [])),
        requester_silenced=None if o.answerable else o.silence_reason[:200],
    )


def _refs_for(session: Session, openings: Sequence[Opening]) -> list[str]:
    """Refs for each opening, in order: one counter update per prefix."""
    wanted: dict[str, int] = {}
    for o in openings:
        wanted[o.queue.prefix] = wanted.get(o.queue.prefix, 0) + 1
    pools = {prefix: iter(reserve_refs(session, prefix, n)) for prefix, n in sorted(wanted.items())}
    return [next(pools[o.queue.prefix]) for o in openings]
