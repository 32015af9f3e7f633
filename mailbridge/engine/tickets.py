"""Tickets and their refs: opening a ticket and numbering it per prefix.

Numbers come from a counter row bumped with UPDATE … RETURNING inside the
ticket's own transaction: concurrent writers queue on that row (PostgreSQL) or
on the database lock (SQLite), and a rolled-back ticket rolls its number back,
so refs have neither gaps nor collisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from mailbridge.engine.lifecycle import INITIAL_STATUS
from mailbridge.store.models import Article, Event, RefCounter, Ticket, TicketType
from mailbridge.store.upsert import insert_missing

FIRST_NUMBER = 1001


def next_ref(session: Session, prefix: str) -> str:
    """Take the next ref for this prefix, e.g. INC-1001, in the caller's transaction."""
    return reserve_refs(session, prefix, 1)[0]


def reserve_refs(session: Session, prefix: str, count: int) -> list[str]:
    """Take `count` consecutive refs for this prefix with one counter update."""
    last = _bump(session, prefix, count)
    if last is None:
        lock_counters(session, {prefix})
        last = _bump(session, prefix, count)
    if last is None:  # pragma: no cover - the row exists now
        raise RuntimeError(f"ref counter for {prefix} vanished")
    return [f"{prefix}-{n}" for n in range(last - count + 1, last + 1)]


def lock_counters(session: Session, prefixes: set[str]) -> None:
    """Hold these prefixes' counters until the transaction ends, creating them if new.

    Creating first matters: a lock on a row that does not exist yet locks
    nothing. Sorted, so two transactions never wait on each other in a circle.
    """
    if not prefixes:
        return
    insert_missing(
        session,
        RefCounter,
        [{"prefix": p, "last_number": FIRST_NUMBER - 1} for p in sorted(prefixes)],
        ["prefix"],
    )
    session.execute(
        select(RefCounter.prefix)
        .where(RefCounter.prefix.in_(prefixes))
        .order_by(RefCounter.prefix)
        .with_for_update()
    )


def _bump(session: Session, prefix: str, count: int) -> int | None:
    result = session.execute(
        update(RefCounter)
        .where(RefCounter.prefix == prefix)
        .values(last_number=RefCounter.last_number + count)
        .returning(RefCounter.last_number)
    )
    return result.scalar_one_or_none()


def open_ticket(
    session: Session,
    *,
    ticket_type: TicketType,
    prefix: str,
    queue: str,
    subject: str,
    requester: str,
    now: datetime,
) -> Ticket:
    ticket = Ticket(
        ref=next_ref(session, prefix),
        type=ticket_type,
        status=INITIAL_STATUS[ticket_type],
        queue=queue,
        subject=subject[:998],
        requester=requester[:320],
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    session.add(ticket)
    session.flush()
    return ticket


def insert_returning_ids(
    session: Session, model: type[Ticket] | type[Event] | type[Article], rows: list[dict[str, Any]]
) -> list[int]:
    """Insert the rows with one statement; their ids, in the order the rows went in."""
    if not rows:
        return []
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def record_event(
    session: Session, ticket_id: int, kind: str, data: dict[str, Any], now: datetime
) -> int:
    """Add one event to a ticket's history; return its id."""
    statement = insert(Event).returning(Event.id)
    event_id: int = session.scalars(
        statement, {"ticket_id": ticket_id, "kind": kind, "data": data, "created_at": now}
    ).one()
    return event_id


def set_status(session: Session, ticket_id: int, status: str, now: datetime) -> None:
    """Write a status and when it changed (the reopen window and the clocks count from it)."""
    session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id)
        .values(status=status, status_changed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
