"""Events to outbox rows, in the caller's transaction: a notification exists iff
the change that caused it was committed (DESIGN.md rule 3).

Which mail each event calls for, and to whom:

| event                      | mail                      | to                   | automatic      |
|----------------------------|---------------------------|----------------------|----------------|
| TicketOpened (acknowledge) | acknowledgement           | requester            | auto-replied   |
| PublicReply                | reply                     | requester, watchers  | no (an agent)  |
| StatusChanged (notify)     | resolved, closed, or      | requester, watchers  | auto-generated |
|                            | status_changed            |                      |                |
| PendingReminder            | pending_reminder          | requester            | auto-generated |

Every mail comes from its queue's address, answers the conversation
(In-Reply-To, References, Outlook's Thread-Topic and Thread-Index), carries the
ticket's signed tag in its Message-ID, Reply-To and envelope sender (so replies
and bounces find the ticket whatever a relay rewrites), and passes the storm
rules of guard.py first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from mailbridge.events import (
    Conversation,
    PendingReminder,
    PublicReply,
    StatusChanged,
    TicketEvent,
    TicketOpened,
)
from mailbridge.ids import IdSource
from mailbridge.settings import QueueSettings, Settings
from mailbridge.signing import Signer, sub_address
from mailbridge.store.models import Article, ArticleKind, OutboxMessage, OutboxStatus
from notifiers.delivery import Outgoing
from notifiers.guard import Guard
from notifiers.headers import OutboundMail, build_message, clean_subject
from notifiers.render import Renderer
from notifiers.threadindex import child_index, conversation_base

log = logging.getLogger(__name__)

Automatic = Literal["auto-replied", "auto-generated"] | None


@dataclass(frozen=True, slots=True)
class _Draft:
    event_id: int
    conversation: Conversation
    kind: str  # the template
    to: tuple[str, ...]
    cc: tuple[str, ...]
    automatic: Automatic
    previous_status: str | None = None
    text: str = ""
    agent_name: str | None = None
    reply_article: int | None = None  # a public reply without a Message-ID of its own


def _drafts(event: TicketEvent) -> list[_Draft]:
    c = event.conversation
    match event:
        case TicketOpened(acknowledge=True):
            return [
                _Draft(event.event_id, c, "acknowledgement", (c.requester,), (), "auto-replied")
            ]
        case PublicReply():
            people = tuple(
                a for a in (c.requester, *c.watchers) if a.lower() != event.agent.lower()
            )
            return [
                _Draft(
                    event.event_id,
                    c,
                    "reply",
                    people[:1],
                    people[1:],
                    None,
                    text=event.text,
                    agent_name=event.agent_name,
                    reply_article=None if event.has_message_id else event.article_id,
                )
            ]
        case StatusChanged(notify=True):
            kind = {"resolved": "resolved", "fulfilled": "resolved", "closed": "closed"}.get(
                event.status, "status_changed"
            )
            return [
                _Draft(
                    event.event_id,
                    c,
                    kind,
                    (c.requester,),
                    c.watchers,
                    "auto-generated",
                    previous_status=event.previous,
                )
            ]
        case PendingReminder():
            return [
                _Draft(event.event_id, c, "pending_reminder", (c.requester,), (), "auto-generated")
            ]
    return []


def enqueue(
    session: Session,
    events: Sequence[TicketEvent],
    *,
    settings: Settings,
    renderer: Renderer,
    ids: IdSource,
    signer: Signer,
    now: datetime,
    lease_until: datetime | None = None,
) -> list[Outgoing]:
    """Render the mails these events call for and add them to the outbox.

    An automatic mail also becomes a notification article on its ticket, so the
    ticket's history shows it. With `lease_until`, the rows are born leased to
    the caller, who sends them right after the commit (one attempt counted).
    """
    drafts = [draft for event in events for draft in _drafts(event)]
    if not drafts:
        return []
    guard = Guard(session, settings, now, {a for d in drafts for a in (*d.to, *d.cc)})
    composed = [
        mail
        for draft in drafts
        if (mail := _compose(draft, guard, settings, renderer, ids, signer, now)) is not None
    ]
    guard.save()
    mails = [(outbox, article) for outbox, article in composed if outbox is not None]
    articles = [article for _, article in composed if "kind" in article]
    if articles:
        session.execute(insert(Article), articles)
    if not mails:
        return []
    outbox_rows = [
        {**outbox, "attempts": 1 if lease_until else 0, "next_attempt_at": lease_until}
        for outbox, _ in mails
    ]
    statement = insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True)
    outbox_ids = list(session.scalars(statement, outbox_rows))
    for _, article in mails:
        if "id" in article:  # a public reply takes the Message-ID of the mail we send
            session.execute(
                update(Article)
                .where(Article.id == article["id"])
                .values(message_id=article["message_id"])
                .execution_options(synchronize_session=False)
            )
    return [
        Outgoing(outbox_id, row["sender"], tuple(row["recipients"]), row["raw"])
        for outbox_id, row in zip(outbox_ids, outbox_rows, strict=True)
    ]


def _compose(
    draft: _Draft,
    guard: Guard,
    settings: Settings,
    renderer: Renderer,
    ids: IdSource,
    signer: Signer,
    now: datetime,
) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
    """The outbox row and the article (or article update) of one mail; None if nobody
    may get it (with a note instead of the row for a person's reply)."""
    c = draft.conversation
    to = guard.deliverable(draft.to)
    cc = [a for a in guard.deliverable(draft.cc) if a not in to]
    if draft.automatic:
        silenced = [c.requester] if c.requester_silenced else []
        allowed = guard.automatic([*to, *cc], draft.kind, c.conversation_id, silenced)
        to, cc = [a for a in to if a in allowed], [a for a in cc if a in allowed]
    if not to and cc:
        to, cc = cc[:1], cc[1:]
    if not to:
        log.info(
            "outbox.skipped", extra={"ref": c.ref, "kind": draft.kind, "reason": "no recipient"}
        )
        if draft.automatic:
            return None
        # A person's reply that reaches nobody must say so where the agent looks.
        note = {
            "ticket_id": c.ticket_id,
            "kind": ArticleKind.INTERNAL_NOTE,
            "message_id": None,
            "sha256": None,
            "sender": c.queue,
            "subject": "reply not sent",
            "text": "This reply was not mailed: no recipient may get mail from us "
            "(undeliverable addresses, our own addresses).",
            "thread_key": "outbound",
            "thread_note": "no deliverable recipient",
            "intake_id": None,
            "created_at": now,
        }
        return None, note
    queue = settings.queue_for(c.queue) or settings.queues[0]
    tag = signer.tag(c.ref)
    sender = queue.address
    domain = sender.rpartition("@")[2]
    rendered = renderer.render(
        draft.kind,
        queue=queue.address,
        language=renderer.pick_language(c.language, queue.language),
        context=_context(draft, queue, settings),
    )
    message_id = ids.message_id(domain, tag=tag)
    references = tuple(dict.fromkeys((*c.references, *([c.parent_id] if c.parent_id else []))))
    raw = build_message(
        OutboundMail(
            sender=sender,
            sender_name=_sender_name(draft, queue),
            to=tuple(to),
            cc=tuple(cc),
            reply_to=sub_address(sender, tag),
            subject=clean_subject(rendered.subject),
            message_id=message_id,
            date=now,
            text=rendered.text,
            html=rendered.html,
            in_reply_to=c.parent_id,
            references=references,
            thread_topic=c.topic,
            thread_index=_thread_index(c, tag, now),
            language=rendered.language,
            auto_submitted=draft.automatic,
            loop_marker=signer.loop_marker(domain),
        )
    )
    outbox = {
        "ticket_id": c.ticket_id,
        "event_id": draft.event_id,
        "kind": draft.kind,
        # The envelope sender carries the tag too: a bounce comes back to it (VERP).
        "sender": sub_address(sender, tag),
        "recipients": [*to, *cc],
        "message_id": message_id,
        "raw": raw,
        "status": OutboxStatus.PENDING,
        "created_at": now,
    }
    if draft.reply_article is not None:
        return outbox, {"id": draft.reply_article, "message_id": message_id}
    if not draft.automatic:
        return outbox, {}
    article = {
        "ticket_id": c.ticket_id,
        "kind": ArticleKind.NOTIFICATION,
        "message_id": message_id,
        "sha256": None,
        "sender": sender,
        "subject": clean_subject(rendered.subject),
        "text": rendered.text,
        "thread_key": "outbound",
        "thread_note": f"{draft.kind} to {', '.join([*to, *cc])}"[:998],
        "intake_id": None,
        "created_at": now,
    }
    return outbox, article


def _thread_index(c: Conversation, tag: str, now: datetime) -> str:
    """Outlook's Thread-Index: a child of the requester's conversation, else of ours."""
    if c.thread_base:
        try:
            return child_index(c.thread_base, now)
        except ValueError:  # not a 22-byte base after all: start our own
            pass
    return child_index(conversation_base(tag, c.opened_at), now)


def _sender_name(draft: _Draft, queue: QueueSettings) -> str:
    if draft.agent_name:
        return f"{draft.agent_name} via {queue.name}"
    return queue.name


def _context(draft: _Draft, queue: QueueSettings, settings: Settings) -> dict[str, Any]:
    c = draft.conversation
    return {
        "ref": c.ref,
        "subject": c.subject,
        "queue": c.queue,
        "requester": c.requester,
        "ticket_type": c.ticket_type,
        "status": c.status,
        "previous_status": draft.previous_status,
        "text": draft.text,
        "agent_name": draft.agent_name,
        "reopen_days": _days(settings.tickets.reopen_window_days),
        "auto_close_days": _days(settings.tickets.auto_close_days),
        "helpdesk_name": queue.name,
    }


def _days(value: float) -> int | float:
    return int(value) if value == int(value) else value
