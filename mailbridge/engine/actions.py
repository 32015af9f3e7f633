"""What agents do to a ticket: reply, note, set fields. Used by the CLI (and mail commands).

Each runs in the caller's transaction and returns the events notifiers turn
into mail, so a change and its notification commit together. Every requested
change is checked before anything is written: a refused one (a forbidden
transition, an unknown owner) raises and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from mailbridge.engine.conversation import conversations
from mailbridge.engine.lifecycle import check_transition
from mailbridge.engine.tickets import record_event, set_status
from mailbridge.errors import UsageError
from mailbridge.events import PublicReply, StatusChanged, TicketEvent
from mailbridge.settings import PRIORITIES, AgentSettings, Settings
from mailbridge.store.models import Article, ArticleKind, Ticket

FIELDS = ("status", "owner", "priority")
NOBODY = ("none", "nobody", "")


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    value: str


def parse_changes(words: list[str]) -> list[Change]:
    """`status=resolved owner=alice@example.org` → changes; UsageError names a bad word."""
    changes = []
    for word in words:
        name, eq, value = word.partition("=")
        name = name.strip().lower()
        if not eq or name not in FIELDS:
            raise UsageError(f"{word!r}: write FIELD=VALUE with FIELD one of {', '.join(FIELDS)}")
        changes.append(Change(name, value.strip()))
    if not changes:
        raise UsageError(f"nothing to set: give FIELD=VALUE ({', '.join(FIELDS)})")
    return changes


def ticket_by_ref(session: Session, ref: str) -> Ticket:
    ticket = session.scalar(
        select(Ticket).where(Ticket.ref == ref.strip().upper()).with_for_update()
    )
    if ticket is None:
        raise UsageError(f"no ticket {ref}")
    return ticket


def agent_named(settings: Settings, address: str, ticket: Ticket) -> AgentSettings:
    agent = settings.agent(address, ticket.queue)
    if agent is None:
        known = ", ".join(a.address for a in settings.agents if a.works(ticket.queue)) or "none"
        raise UsageError(
            f"{address} is not an agent of {ticket.queue} (agents there: {known}; "
            "add [[agents]] to the config)"
        )
    return agent


def reply(
    session: Session, settings: Settings, ref: str, agent_address: str, text: str, now: datetime
) -> list[TicketEvent]:
    """A public reply: kept on the ticket, mailed to requester and watchers."""
    ticket, agent, article_id, event_id = _write(
        session, settings, ref, agent_address, text, ArticleKind.OUTBOUND_REPLY, now
    )
    return [
        PublicReply(
            event_id=event_id,
            conversation=conversations(session, [ticket.id])[ticket.id],
            article_id=article_id,
            agent=agent.address,
            agent_name=agent.name or agent.address,
            text=text,
        )
    ]


def note(
    session: Session, settings: Settings, ref: str, author: str, text: str, now: datetime
) -> list[TicketEvent]:
    """An internal note: kept on the ticket, never mailed to the requester."""
    _write(session, settings, ref, author, text, ArticleKind.INTERNAL_NOTE, now)
    return []


def _write(
    session: Session,
    settings: Settings,
    ref: str,
    author: str,
    text: str,
    kind: ArticleKind,
    now: datetime,
) -> tuple[Ticket, AgentSettings, int, int]:
    """An agent's article and its event: (ticket, agent, article id, event id)."""
    ticket = ticket_by_ref(session, ref)
    agent = agent_named(settings, author, ticket)
    if not text.strip():
        raise UsageError(
            f"the {'reply' if kind is ArticleKind.OUTBOUND_REPLY else 'note'} is empty"
        )
    article_id = _article(session, ticket, kind, agent.address, text, now)
    event = "reply.public" if kind is ArticleKind.OUTBOUND_REPLY else "note.added"
    data = {"article_id": article_id, "by": agent.address}
    event_id = record_event(session, ticket.id, event, data, now)
    _touch(session, ticket.id, now)
    return ticket, agent, article_id, event_id


def set_fields(
    session: Session,
    settings: Settings,
    ref: str,
    changes: list[Change],
    by: str,
    now: datetime,
) -> list[TicketEvent]:
    """Apply `changes` after checking all of them; return the status change event, if any."""
    ticket = ticket_by_ref(session, ref)
    values: dict[str, str | None] = {}
    for change in changes:
        values[change.field] = _checked(settings, ticket, change)
    events: list[TicketEvent] = []
    for field, value in values.items():
        before = getattr(ticket, field)
        if value == before:
            continue
        data = {"from": before, "to": value, "by": by}
        event_id = record_event(session, ticket.id, f"ticket.{field}_changed", data, now)
        if field == "status" and value is not None:
            set_status(session, ticket.id, value, now)
            events.append(
                StatusChanged(
                    event_id=event_id,
                    conversation=conversations(session, [ticket.id])[ticket.id],
                    previous=before,
                    status=value,
                    by=by,
                )
            )
        else:
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id)
                .values({field: value, "updated_at": now})
                .execution_options(synchronize_session=False)
            )
    return events


def _checked(settings: Settings, ticket: Ticket, change: Change) -> str | None:
    if change.field == "status":
        wanted = change.value.lower().replace(" ", "_").replace("-", "_")
        check_transition(ticket.type, ticket.status, wanted)
        return wanted
    if change.field == "priority":
        wanted = change.value.lower()
        if wanted not in PRIORITIES:
            raise UsageError(f"priority {change.value!r}: use one of {', '.join(PRIORITIES)}")
        return wanted
    if change.value.lower() in NOBODY:
        return None
    return agent_named(settings, change.value, ticket).address.lower()


def _article(
    session: Session, ticket: Ticket, kind: ArticleKind, sender: str, text: str, now: datetime
) -> int:
    statement = insert(Article).returning(Article.id)
    article_id: int = session.scalars(
        statement,
        {
            "ticket_id": ticket.id,
            "kind": kind,
            "message_id": None,
            "sha256": None,
            "sender": sender[:320],
            "subject": ticket.subject,
            "text": text,
            "thread_key": "agent",
            "thread_note": "written with the mailbridge command",
            "intake_id": None,
            "created_at": now,
        },
    ).one()
    return article_id


def _touch(session: Session, ticket_id: int, now: datetime) -> None:
    session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
