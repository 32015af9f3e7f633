"""The store on real SQLite and PostgreSQL: migrations equal the models, refs never collide."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.engine.tickets import open_ticket
from mailbridge.store import Store, upgrade
from mailbridge.store.models import Base, Ticket, TicketType
from mailbridge.store.session import is_at_head

NOW = datetime.now(UTC)


def _open(
    session: Session,
    kind: TicketType = TicketType.INCIDENT,
    prefix: str = "INC",
    subject: str = "s",
) -> Ticket:
    return open_ticket(
        session,
        ticket_type=kind,
        prefix=prefix,
        queue="helpdesk@example.org",
        subject=subject,
        requester="a@example.org",
        now=NOW,
    )


def test_migrated_schema_equals_the_models(store: Store) -> None:
    upgrade(store)  # idempotent at head
    assert is_at_head(store)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_two_hundred_concurrent_tickets_get_distinct_gapless_refs(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                with store.transaction() as session:
                    _open(session, subject=f"{n}-{i}")
        except BaseException as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.transaction() as session:
        refs = list(session.scalars(select(Ticket.ref)))
    assert sorted(refs) == [f"INC-{n}" for n in range(1001, 1201)]


def test_a_rolled_back_ticket_gives_its_number_back(store: Store) -> None:
    def open_then_fail() -> None:
        with store.transaction() as session:
            _open(session)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        open_then_fail()
    with store.transaction() as session:
        change = _open(session, TicketType.CHANGE, "CHG")
        first = _open(session)
    assert (change.ref, change.status) == ("CHG-1001", "draft")
    assert first.ref == "INC-1001"


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    with store.transaction() as session:
        _open(session)
    with store.transaction() as session:
        ticket = session.scalars(select(Ticket)).one()
    assert ticket.created_at.tzinfo is not None
    assert abs((ticket.created_at - NOW).total_seconds()) < 1
