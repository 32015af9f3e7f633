"""Events to outbox rows, in the caller's transaction: a notification exists iff
the change that caused it was committed (DESIGN.md rule 3)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailbridge.events import TicketEvent, TicketOpened
from mailbridge.ids import IdSource
from mailbridge.settings import Settings
from mailbridge.store.models import Article, ArticleKind, OutboxMessage, OutboxStatus
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
) -> list[OutboxMessage]:
    """Render the mails these events call for and add them to the outbox.

    Each mail also becomes a notification article on its ticket, so the
    ticket's history shows it and a reply to its Message-ID finds the ticket.
    """
    added: list[OutboxMessage] = []
    for event in events:
        if event.acknowledge:
            message = _acknowledgement(session, event, settings, renderer, ids, now)
            if message is not None:
                added.append(message)
    return added


def _acknowledgement(
    session: Session,
    event: TicketOpened,
    settings: Settings,
    renderer: Renderer,
    ids: IdSource,
    now: datetime,
) -> OutboxMessage | None:
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
    mail = build_message(
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
    message = OutboxMessage(
        ticket_id=event.ticket_id,
        event_id=event.event_id,
        kind="acknowledgement",
        sender=sender,
        recipients=[recipient],
        message_id=message_id,
        raw=mail,
        status=OutboxStatus.PENDING,
        attempts=0,
        created_at=now,
    )
    session.add(message)
    session.add(
        Article(
            ticket_id=event.ticket_id,
            kind=ArticleKind.NOTIFICATION,
            message_id=message_id,
            sender=sender,
            subject=subject,
            text=text,
            thread_key="outbound",
            created_at=now,
        )
    )
    return message
