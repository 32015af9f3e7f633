"""Events to outbox rows, in the caller's transaction: a notification exists iff
the change that caused it was committed (DESIGN.md rule 3)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mailbridge.events import TicketEvent, TicketOpened
from mailbridge.ids import IdSource
from mailbridge.settings import Settings
from mailbridge.store.models import Article, ArticleKind, OutboxMessage, OutboxStatus
from notifiers.delivery import Outgoing
from notifiers.headers import build_message, checked_address, clean_subject
from notifiers.render import Renderer

log = logging.getLogger(__name__)


def enqueue(
    session: Session,
    events: Sequence[TicketEvent],
    *,
    settings: Settings,
    renderer: Renderer,
    ids: IdSource,
    now: datetime,
    lease_until: datetime | None = None,
) -> list[Outgoing]:
    """Render the mails these events call for and add them to the outbox.

    Each mail also becomes a notification article on its ticket, so the
    ticket's history shows it and a reply to its Message-ID finds the ticket.
    With `lease_until`, the rows are born leased to the caller, who sends them
    right after the commit (one attempt counted).
    """
    mails = [
        mail
        for event in events
        if event.acknowledge
        and (mail := _acknowledgement(event, settings, renderer, ids, now)) is not None
    ]
    if not mails:
        return []
    outbox_rows = [
        {**outbox, "attempts": 1 if lease_until else 0, "next_attempt_at": lease_until}
        for outbox, _ in mails
    ]
    statement = insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True)
    outbox_ids = list(session.scalars(statement, outbox_rows))
    session.execute(insert(Article), [article for _, article in mails])
    return [
        Outgoing(outbox_id, row["sender"], tuple(row["recipients"]), row["raw"])
        for outbox_id, row in zip(outbox_ids, outbox_rows, strict=True)
    ]


def _acknowledgement(
    event: TicketOpened,
    settings: Settings,
    renderer: Renderer,
    ids: IdSource,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The outbox row and the notification article of one acknowledgement."""
    recipient = checked_address(event.requester)
    if recipient is None:
        log.info("outbox.skipped", extra={"ref": event.ref, "reason": "requester not an address"})
        return None
    sender = settings.outbound.from_address
    domain = sender.rpartition("@")[2]
    context = {
        "ref": event.ref,
        "subject": event.subject,
        "requester": recipient,
        "queue": event.queue,
    }
    subject = clean_subject(renderer.render("acknowledgement.subject", event.queue, context))
    text = renderer.render("acknowledgement.txt", event.queue, context)
    message_id = ids.message_id(domain, tag=event.ref)
    references = [*event.inbound_references]
    if event.inbound_message_id:
        references.append(event.inbound_message_id)
    raw = build_message(
        sender=sender,
        recipient=recipient,
        subject=subject,
        message_id=message_id,
        date=now,
        text=text,
        in_reply_to=event.inbound_message_id,
        references=references,
        loop_marker=domain,
        automatic=True,
    )
    outbox = {
        "ticket_id": event.ticket_id,
        "event_id": event.event_id,
        "kind": "acknowledgement",
        "sender": sender,
        "recipients": [recipient],
        "message_id": message_id,
        "raw": raw,
        "status": OutboxStatus.PENDING,
        "created_at": now,
    }
    article = {
        "ticket_id": event.ticket_id,
        "kind": ArticleKind.NOTIFICATION,
        "message_id": message_id,
        "sha256": None,
        "sender": sender,
        "subject": subject,
        "text": text,
        "thread_key": "outbound",
        "intake_id": None,
        "created_at": now,
    }
    return outbox, article
