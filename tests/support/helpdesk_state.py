"""What the daemon has written, read straight from its database for end-to-end checks.

The CLI shows tickets one way; these helpers answer the questions a crash test
asks (which inbound Message-ID became which tickets, is anything still pending)
in one query each, so tests can poll them cheaply while the daemon works.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select

from mailbridge.store import Store
from mailbridge.store.models import (
    Article,
    ArticleKind,
    IntakeRecord,
    IntakeStatus,
    OutboxMessage,
    OutboxStatus,
    Ticket,
)
from mailbridge.store.spool import spool_path, spooled_count
from tests.support.ports import wait_until


@dataclass(frozen=True, slots=True)
class Backlog:
    intake_pending: int
    outbox_pending: int

    @property
    def settled(self) -> bool:
        return self.intake_pending == 0 and self.outbox_pending == 0


def backlog(store: Store) -> Backlog:
    """How much work the daemon still has: pending intake records (in the spool
    too) and outbox mail."""
    spooled = 0
    path = spool_path(store.url)
    if path is not None and path.exists():
        spool = Store(f"sqlite:///{path}")
        try:
            spooled = spooled_count(spool)
        finally:
            spool.dispose()
    with store.transaction() as session:
        intake = session.scalar(
            select(func.count())
            .select_from(IntakeRecord)
            .where(IntakeRecord.status == IntakeStatus.PENDING)
        )
        outbox = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
        )
    return Backlog((intake or 0) + spooled, outbox or 0)


def tickets_by_inbound_message_id(store: Store) -> dict[str, list[str]]:
    """Inbound Message-ID -> refs of the tickets that carry it as an inbound article."""
    found: dict[str, list[str]] = defaultdict(list)
    with store.transaction() as session:
        rows = session.execute(
            select(Article.message_id, Ticket.ref)
            .join(Ticket, Article.ticket_id == Ticket.id)
            .where(Article.kind == ArticleKind.INBOUND_REPLY)
            .order_by(Article.id)
        )
        for message_id, ref in rows:
            found[message_id or ""].append(ref)
    return dict(found)


def ticket_refs(store: Store) -> list[str]:
    with store.transaction() as session:
        return list(session.scalars(select(Ticket.ref).order_by(Ticket.id)))


def intake_statuses(store: Store, *, after_id: int = 0) -> Counter[str]:
    """Count intake records by status, only those with an id above `after_id`."""
    with store.transaction() as session:
        rows = session.execute(
            select(IntakeRecord.status, func.count())
            .where(IntakeRecord.id > after_id)
            .group_by(IntakeRecord.status)
        )
        return Counter({str(status): count for status, count in rows})


def last_intake_id(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.max(IntakeRecord.id))) or 0


def outbox_statuses(store: Store) -> Counter[str]:
    with store.transaction() as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return Counter({str(status): count for status, count in rows})


def pending_outbox(store: Store) -> list[tuple[int, int, str | None, str | None]]:
    """Pending outbox rows as (id, attempts, next_attempt_at, last_error), to explain a stall."""
    with store.transaction() as session:
        rows = session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.attempts,
                OutboxMessage.next_attempt_at,
                OutboxMessage.last_error,
            )
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(OutboxMessage.id)
        )
        return [
            (id_, attempts, at.isoformat() if at else None, error)
            for id_, attempts, at, error in rows
        ]


def wait_settled(store: Store, timeout: float) -> None:
    """Wait until nothing is pending; on timeout fail saying what is still stuck and why."""
    try:
        wait_until(lambda: backlog(store).settled, timeout=timeout, interval=0.25)
    except TimeoutError:
        stuck = pending_outbox(store)
        raise AssertionError(
            f"not settled after {timeout}s: {backlog(store)}; "
            f"pending outbox (id, attempts, next_attempt_at, error), first 5: {stuck[:5]}"
        ) from None
