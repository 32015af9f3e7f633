"""A ticket's conversation as mails about it need it: who, what, and the thread so far."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from mailbridge.engine.subjects import topic
from mailbridge.engine.threads import watchers_of
from mailbridge.events import Conversation
from mailbridge.store.models import Article, ArticleKind, OutboxMessage, Ticket

MAX_REFERENCES = 20  # the first mail, then the newest: what clients keep too


def conversations(session: Session, ticket_ids: Iterable[int]) -> dict[int, Conversation]:
    """The conversation of each ticket, read in three queries whatever their number.

    In-Reply-To names the newest mail from the requester's side (or our newest
    mail when there is none); References hold the first mail and the newest
    ones, so a reply threads under the original in every client.
    """
    wanted = set(ticket_ids)
    if not wanted:
        return {}
    # populate_existing: the caller may have just changed these rows with Core updates.
    tickets = session.scalars(
        select(Ticket).where(Ticket.id.in_(wanted)).execution_options(populate_existing=True)
    ).all()
    watchers = watchers_of(session, wanted)
    theirs = (
        select(
            Article.ticket_id,
            Article.message_id,
            Article.created_at.label("at"),
            literal(0).label("ours"),
            Article.id.label("seq"),
        )
        .where(Article.ticket_id.in_(wanted), Article.kind == ArticleKind.INBOUND_REPLY)
        # Out-of-office replies and bounces are not the conversation: a reply to
        # the requester answers their last own mail, not their autoresponder.
        .where(Article.message_id.is_not(None), Article.automatic.is_(False))
    )
    ours = select(
        OutboxMessage.ticket_id,
        OutboxMessage.message_id,
        OutboxMessage.created_at,
        literal(1),
        OutboxMessage.id,
    ).where(OutboxMessage.ticket_id.in_(wanted))
    mails: dict[int, list[tuple[str, bool]]] = {}
    rows: list[Any] = list(session.execute(union_all(theirs, ours).order_by("at", "ours", "seq")))
    for row in rows:
        mails.setdefault(row[0], []).append((row[1], bool(row[3])))
    found = {}
    for ticket in tickets:
        chain = list(dict.fromkeys(mid for mid, _ in mails.get(ticket.id, [])))
        their_ids = [mid for mid, is_ours in mails.get(ticket.id, []) if not is_ours]
        references = chain[:1] + chain[1:][-(MAX_REFERENCES - 1) :]
        found[ticket.id] = Conversation(
            ticket_id=ticket.id,
            ref=ticket.ref,
            ticket_type=ticket.type.value,
            status=ticket.status,
            queue=ticket.queue,
            subject=ticket.subject,
            topic=topic(ticket.subject),
            requester=ticket.requester,
            watchers=tuple(watchers.get(ticket.id, ())),
            language=ticket.language,
            opened_at=ticket.created_at,
            thread_base=ticket.thread_base,
            conversation_id=ticket.conversation_id or ticket.id,
            parent_id=(their_ids or chain)[-1] if (their_ids or chain) else None,
            references=tuple(references),
            requester_silenced=ticket.requester_silenced,
        )
    return found
