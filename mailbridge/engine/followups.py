"""Mails that continue a ticket: replies from its people, agents' answers, bounces.

- A reply from the requester, a watcher or anyone holding a strong key is an
  inbound article; a human reply to a pending, resolved or closed (within the
  reopen window) ticket puts it back to work. Automatic mail is kept on the
  ticket and changes nothing.
- A mail from one of the queue's agents is a public reply: it is sent on to
  the requester and watchers (notifiers), under the help desk's address.
- A delivery failure report about our mail marks the failed addresses that take
  part in the ticket undeliverable: nothing more is sent to them, and the
  ticket says so.
Cc'd addresses of human mail become watchers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from mailbridge.engine.conversation import conversations
from mailbridge.engine.lifecycle import LIFECYCLES
from mailbridge.engine.people import add_watchers, watchers_from
from mailbridge.engine.threads import Found, TicketState
from mailbridge.engine.tickets import insert_returning_ids, set_status
from mailbridge.events import PublicReply, StatusChanged, TicketEvent
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store.models import (
    Article,
    ArticleKind,
    Event,
    Ticket,
    TicketType,
    UndeliverableAddress,
)
from mailbridge.store.upsert import insert_missing
from parsers import Classification, ParsedMail

# Where a ticket goes back to work when its requester writes again.
WORKING_STATUS: dict[TicketType, str] = {
    TicketType.INCIDENT: "in_progress",
    TicketType.SERVICE_REQUEST: "in_fulfilment",
    TicketType.PROBLEM: "investigating",
}
WAITING_STATUSES = frozenset({"pending", "resolved", "fulfilled", "closed"})
STRONG_KEYS = frozenset({"token", "signed-message-id"})


@dataclass(frozen=True, slots=True)
class FollowUp:
    intake_id: int
    sha256: str
    parsed: ParsedMail
    sender: str
    envelope_sender: str
    found: Found

    @property
    def strong(self) -> bool:
        """Whether it found its ticket by a key only our mail carries."""
        return self.found.key in STRONG_KEYS

    def is_agents_reply(self, settings: Settings) -> AgentSettings | None:
        """The agent whose public reply this is, if it is one.

        From alone is easy to forge, and a public reply goes out under the
        help desk's name: it must answer our mail (a strong key), come from a
        configured agent of the ticket's queue, and its envelope sender must
        be that agent too. Anything else is kept as an inbound article.
        """
        if self.parsed.classification is not Classification.HUMAN or not self.strong:
            return None
        agent = settings.agent(self.sender, self.found.ticket.queue)
        if agent is None or self.envelope_sender.strip("<>").lower() != agent.address.lower():
            return None
        return agent


def take_followups(
    session: Session, followups: Sequence[FollowUp], settings: Settings, now: datetime
) -> list[TicketEvent]:
    """Write each follow-up on its ticket; return the events notifiers act on."""
    if not followups:
        return []
    # First what each mail does (decided in order: a reopen is seen by the next
    # mail on the same ticket), then one insert per table for the whole batch.
    plans: list[tuple[FollowUp, TicketState, AgentSettings | None, str | None]] = []
    states: dict[int, TicketState] = {}
    watchers: list[tuple[int, str]] = []
    for f in followups:
        ticket = states.get(f.found.ticket.id, f.found.ticket)
        agent = f.is_agents_reply(settings)
        after = None if agent is not None else _reopened(f, ticket)
        if after is not None:
            states[ticket.id] = _with_status(ticket, after)
        plans.append((f, ticket, agent, after))
        besides = [ticket.requester, *ticket.watchers, ticket.owner or ""]
        watchers += [(ticket.id, w) for w in watchers_from(f.parsed, settings, besides=besides)]
    article_ids = insert_returning_ids(
        session, Article, [_article_row(f, agent is not None, now) for f, _, agent, _ in plans]
    )
    event_rows = []
    for (f, ticket, agent, _), article_id in zip(plans, article_ids, strict=True):
        data: dict[str, Any] = {"article_id": article_id, "thread": f.found.note}
        # Only a report on our own mail (VERP token, our Message-ID), and only of
        # a failure: a forged report or a delay warning silences nobody.
        bounce = f.parsed.classification is Classification.BOUNCE
        if bounce and f.strong and not f.parsed.bounce_delayed:
            data["undeliverable"] = _bounced(session, f, ticket, now)
        kind = "reply.public" if agent else "article.added"
        event_rows.append({"ticket_id": ticket.id, "kind": kind, "data": data, "created_at": now})
    reopened = [(f, ticket, after) for f, ticket, _, after in plans if after is not None]
    event_rows += [
        {
            "ticket_id": ticket.id,
            "kind": "ticket.status_changed",
            "data": _change(ticket.status, after, f"{f.sender} (reply)"),
            "created_at": now,
        }
        for f, ticket, after in reopened
    ]
    event_ids = insert_returning_ids(session, Event, event_rows)
    replies = [
        (f, article_id, event_id, agent.name or agent.address)
        for (f, _, agent, _), article_id, event_id in zip(
            plans, article_ids, event_ids, strict=False
        )
        if agent is not None
    ]
    changes = [
        (ticket.id, event_id, ticket.status, after, f"{f.sender} (reply)")
        for (f, ticket, after), event_id in zip(reopened, event_ids[len(plans) :], strict=True)
    ]
    add_watchers(session, watchers, now)
    touched = {f.found.ticket.id for f in followups}
    session.execute(
        update(Ticket)
        .where(Ticket.id.in_(touched))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    for ticket_id, _event_id, _before, after, _by in changes:
        set_status(session, ticket_id, after, now)
    found = conversations(session, touched)
    events: list[TicketEvent] = [
        PublicReply(
            event_id=event_id,
            conversation=found[f.found.ticket.id],
            article_id=article_id,
            agent=f.sender,
            agent_name=name,
            text=f.parsed.text,
            has_message_id=f.parsed.message_id is not None,
        )
        for f, article_id, event_id, name in replies
    ]
    # The requester's own reply reopened it: they know, nobody needs a mail.
    events += [
        StatusChanged(
            event_id=event_id,
            conversation=found[ticket_id],
            previous=before,
            status=after,
            by=by,
            notify=False,
        )
        for ticket_id, event_id, before, after, by in changes
    ]
    return events


def _change(before: str, after: str, by: str) -> dict[str, str]:
    return {"from": before, "to": after, "by": by}


def _reopened(f: FollowUp, ticket: TicketState) -> str | None:
    """The status a human reply puts the ticket back to, or None if it stays."""
    if f.parsed.classification is not Classification.HUMAN:
        return None
    if ticket.status not in WAITING_STATUSES:
        return None
    target = WORKING_STATUS.get(ticket.type)
    if target is None or target not in LIFECYCLES[ticket.type].get(ticket.status, ()):
        return None
    return target


def _with_status(ticket: TicketState, status: str) -> TicketState:
    return TicketState(
        ticket.id,
        ticket.ref,
        ticket.type,
        status,
        ticket.queue,
        ticket.requester,
        ticket.owner,
        ticket.status_changed_at,
        ticket.conversation_id,
        ticket.watchers,
    )


def _article_row(f: FollowUp, by_agent: bool, now: datetime) -> dict[str, Any]:
    return {
        "ticket_id": f.found.ticket.id,
        "kind": ArticleKind.OUTBOUND_REPLY if by_agent else ArticleKind.INBOUND_REPLY,
        "message_id": f.parsed.message_id,
        "sha256": f.sha256,
        "sender": f.sender[:320],
        "subject": f.parsed.subject[:998],
        "text": f.parsed.text,
        "thread_key": f.found.key,
        "thread_note": f.found.note[:998],
        "intake_id": f.intake_id,
        "created_at": now,
        "automatic": f.parsed.classification is not Classification.HUMAN,
    }


def _bounced(session: Session, f: FollowUp, ticket: TicketState, now: datetime) -> list[str]:
    """Mark the failed addresses that take part in this ticket undeliverable.

    Only those: a forged report must not silence addresses the ticket never
    mailed. Our own addresses are never marked.
    """
    people = {ticket.requester.lower(), *ticket.watchers}
    failed = [a.lower() for a in f.parsed.bounced_recipients if a.lower() in people]
    insert_missing(
        session,
        UndeliverableAddress,
        [
            {
                "address": address,
                "reason": f"delivery failure report on {ticket.ref}: {f.found.note}"[:4000],
                "ticket_id": ticket.id,
                "since": now,
            }
            for address in dict.fromkeys(failed)
        ],
        ["address"],
    )
    if failed:
        text = (
            f"Mail to {', '.join(failed)} could not be delivered (a delivery failure report "
            "came back): nothing more is sent to this address until an admin clears it."
        )
        session.execute(
            insert(Article),
            {
                "ticket_id": ticket.id,
                "kind": ArticleKind.INTERNAL_NOTE,
                "message_id": None,
                "sha256": None,
                "sender": f.sender[:320],
                "subject": "undeliverable address",
                "text": text,
                "thread_key": "bounce",
                "thread_note": f.found.note[:998],
                "intake_id": f.intake_id,
                "created_at": now,
            },
        )
    return failed
