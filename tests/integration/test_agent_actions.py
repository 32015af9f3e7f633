"""Agents' actions on a real database: every transition of every lifecycle, and
a refused change that leaves no trace (no status, no event, no mail)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from mailbridge.cli import main
from mailbridge.engine.actions import Change, note, reply, set_fields
from mailbridge.engine.lifecycle import LIFECYCLES, ForbiddenTransition
from mailbridge.engine.tickets import open_ticket
from mailbridge.errors import UsageError
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import Event, OutboxMessage, Ticket, TicketType

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
AGENT = "agnes@example.org"


def _with_agent(settings: Settings) -> Settings:
    return replace(settings, agents=(AgentSettings(address=AGENT, name="Agnes"),))


def _ticket_at(store: Store, ticket_type: TicketType, status: str) -> str:
    with store.transaction() as session:
        ticket = open_ticket(
            session,
            ticket_type=ticket_type,
            prefix="T",
            queue="helpdesk@example.org",
            subject="s",
            requester="rita@example.org",
            now=NOW,
        )
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(status=status))
        return ticket.ref


def _trace(store: Store, ref: str) -> tuple[str, int, int]:
    with store.reading() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ref == ref)).one()
        events = session.scalar(select(func.count()).where(Event.ticket_id == ticket.id))
        mails = session.scalar(select(func.count()).where(OutboxMessage.ticket_id == ticket.id))
        return ticket.status, events or 0, mails or 0


@pytest.mark.parametrize("ticket_type", list(TicketType))
def test_every_pair_of_statuses_moves_or_is_refused_without_a_trace(
    settings: Settings, store: Store, ticket_type: TicketType
) -> None:
    table = LIFECYCLES[ticket_type]
    for current in table:
        for wanted in table:
            ref = _ticket_at(store, ticket_type, current)
            change = [Change("status", wanted)]
            if wanted in table[current]:
                with store.transaction() as session:
                    events = set_fields(session, settings, ref, change, "test", NOW)
                assert [(e.previous, e.status) for e in events] == [(current, wanted)]  # type: ignore[union-attr]
                assert _trace(store, ref)[:2] == (wanted, 1)
            else:
                refused = pytest.raises(ForbiddenTransition, match=f"'{current}' to '{wanted}'")
                with refused, store.transaction() as session:
                    set_fields(session, settings, ref, change, "test", NOW)
                assert _trace(store, ref) == (current, 0, 0)


def test_a_command_with_one_bad_change_applies_none(settings: Settings, store: Store) -> None:
    settings = _with_agent(settings)
    ref = _ticket_at(store, TicketType.INCIDENT, "new")
    bad = [Change("priority", "high"), Change("owner", AGENT), Change("status", "reviewed")]
    refused = pytest.raises(ForbiddenTransition, match="not a status in the incident lifecycle")
    with refused, store.transaction() as session:
        set_fields(session, settings, ref, bad, "test", NOW)
    with pytest.raises(UsageError, match="not an agent"), store.transaction() as session:
        set_fields(session, settings, ref, [Change("owner", "eve@example.org")], "t", NOW)
    with store.reading() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ref == ref)).one()
        assert (ticket.priority, ticket.owner, ticket.status) == ("normal", None, "new")
    assert _trace(store, ref) == ("new", 0, 0)


def test_reply_and_note_need_an_agent_and_a_text(settings: Settings, store: Store) -> None:
    settings = _with_agent(settings)
    ref = _ticket_at(store, TicketType.INCIDENT, "new")
    for action, sender, text in [
        (reply, "eve@example.org", "hi"),
        (note, "eve@example.org", "hi"),
        (reply, AGENT, "  "),
    ]:
        with pytest.raises(UsageError), store.transaction() as session:
            action(session, settings, ref, sender, text, NOW)
    assert _trace(store, ref) == ("new", 0, 0)


def test_the_set_command_exits_65_on_a_forbidden_transition(
    settings: Settings,
    store: Store,
    tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = _ticket_at(store, TicketType.INCIDENT, "new")
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", settings.database.url)
    assert main(["set", ref, "status=reviewed"]) == 65
    assert "not a status in the incident lifecycle" in capsys.readouterr().err
    assert main(["set", ref, "status=in_progress", "priority=high"]) == 0
    assert _trace(store, ref)[0] == "in_progress"
    assert main(["set", ref, "colour=blue"]) == 64
