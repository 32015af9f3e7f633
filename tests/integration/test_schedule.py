"""What time does: a resolved ticket closes itself unless the requester replies, and a
pending one reminds its requester once per pending spell."""

from __future__ import annotations

from sqlalchemy import select

from mailbridge.engine.actions import Change, set_fields
from mailbridge.settings import Settings
from mailbridge.store import Store
from mailbridge.store.models import OutboxMessage
from tests.support.desk import LocalDesk
from tests.support.participants import compose

HELPDESK = "helpdesk@example.org"


def _open(desk: LocalDesk, sender: str) -> None:
    _, raw = compose(sender=sender, to=[HELPDESK], subject="disk full", body="Help.")
    desk.receive(raw, sender=sender, to=[HELPDESK])
    desk.take()
    desk.sent()


def _set(desk: LocalDesk, ref: str, status: str) -> None:
    desk.act(set_fields, ref, [Change("status", status)], "agent")


def test_resolved_closes_after_the_days_unless_the_requester_replies(
    settings: Settings, store: Store
) -> None:
    desk = LocalDesk(settings, store)
    _open(desk, "rita@example.org")
    _open(desk, "sam@example.org")
    _set(desk, "INC-1001", "resolved")
    _set(desk, "INC-1002", "resolved")
    resolved = desk.sent()
    assert ["[INC-1001]" in m["Subject"] for m in resolved] == [True, False]
    assert ["[INC-1002]" in m["Subject"] for m in resolved] == [False, True]

    desk.clock.advance(days=settings.tickets.auto_close_days - 1)
    _, raw = compose(
        sender="sam@example.org", to=[HELPDESK], subject="Re: [INC-1002]", body="Not fixed."
    )
    desk.receive(raw, sender="sam@example.org", to=[HELPDESK])
    desk.take()
    assert desk.worker.housekeeping(force=True) == 0
    desk.clock.advance(days=1, seconds=1)
    assert desk.worker.housekeeping(force=True) == 1
    desk.worker.deliver()

    assert desk.ticket("INC-1001")["status"] == "closed"
    assert desk.ticket("INC-1002")["status"] == "in_progress"
    [closed] = desk.sent()
    assert closed["To"] == "rita@example.org"
    assert "[INC-1001]" in closed["Subject"]
    assert closed["Auto-Submitted"] == "auto-generated"


def test_a_pending_ticket_reminds_once_per_spell(settings: Settings, store: Store) -> None:
    desk = LocalDesk(settings, store)
    _open(desk, "rita@example.org")
    _set(desk, "INC-1001", "pending")
    desk.sent()
    days = settings.tickets.pending_reminder_days
    desk.clock.advance(days=days + 0.1)
    assert desk.worker.housekeeping(force=True) == 1
    desk.clock.advance(days=days + 0.1)
    assert desk.worker.housekeeping(force=True) == 0  # once per spell
    _set(desk, "INC-1001", "in_progress")
    _set(desk, "INC-1001", "pending")
    desk.clock.advance(days=days + 0.1)
    assert desk.worker.housekeeping(force=True) == 1  # a new spell, a new reminder
    with store.reading() as session:
        kinds = list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))
    assert kinds == [
        "acknowledgement",
        "status_changed",  # pending
        "pending_reminder",
        "status_changed",  # in progress
        "status_changed",  # pending again
        "pending_reminder",
    ]
