"""What time does to tickets: resolved ones close, pending ones remind their requester.

Run by the worker when it is idle. Claimed with FOR UPDATE SKIP LOCKED, so
several nodes on one PostgreSQL never close or remind the same ticket twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from mailbridge.engine.conversation import conversations
from mailbridge.engine.lifecycle import LIFECYCLES, check_transition
from mailbridge.engine.tickets import record_event, set_status
from mailbridge.events import PendingReminder, StatusChanged, TicketEvent
from mailbridge.settings import Settings
from mailbridge.store.models import Ticket

BATCH = 100
RESOLVED = ("resolved", "fulfilled")


def due_work(session: Session, settings: Settings, now: datetime) -> list[TicketEvent]:
    """Close resolved tickets past `auto_close_days`; remind pending ones once."""
    events: list[TicketEvent] = []
    close_before = now - timedelta(days=settings.tickets.auto_close_days)
    closing = session.execute(
        select(Ticket.id, Ticket.type, Ticket.status)
        .where(Ticket.status.in_(RESOLVED), Ticket.status_changed_at < close_before)
        .order_by(Ticket.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    changes: list[tuple[int, int, str]] = []
    for ticket_id, ticket_type, status in closing:
        if "closed" not in LIFECYCLES[ticket_type].get(status, ()):
            continue
        check_transition(ticket_type, status, "closed")
        data = {"from": status, "to": "closed", "by": "auto-close"}
        changes.append(
            (
                ticket_id,
                record_event(session, ticket_id, "ticket.status_changed", data, now),
                status,
            )
        )
        set_status(session, ticket_id, "closed", now)
    remind_before = now - timedelta(days=settings.tickets.pending_reminder_days)
    reminding = session.scalars(
        select(Ticket.id)
        .where(Ticket.status == "pending", Ticket.status_changed_at < remind_before)
        .where(or_(Ticket.reminded_at.is_(None), Ticket.reminded_at < Ticket.status_changed_at))
        .order_by(Ticket.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    reminders = []
    for ticket_id in reminding:
        reminders.append((ticket_id, record_event(session, ticket_id, "ticket.reminded", {}, now)))
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
    found = conversations(session, [c[0] for c in changes] + [r[0] for r in reminders])
    events += [
        StatusChanged(
            event_id=event_id,
            conversation=found[ticket_id],
            previous=previous,
            status="closed",
            by="auto-close",
        )
        for ticket_id, event_id, previous in changes
    ]
    events += [
        PendingReminder(event_id=event_id, conversation=found[ticket_id])
        for ticket_id, event_id in reminders
    ]
    return events
