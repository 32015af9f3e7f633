"""Every ITIL lifecycle, exhaustively: each listed transition is allowed, every other
pair of statuses is refused with an error naming what is allowed."""

from __future__ import annotations

import itertools

import pytest

from mailbridge.engine.lifecycle import (
    INITIAL_STATUS,
    LIFECYCLES,
    ForbiddenTransition,
    check_transition,
)
from mailbridge.store.models import TicketType

# The issue's statuses per type, written out again here so that a table that
# loses or gains a status fails this test.
STATUSES = {
    TicketType.INCIDENT: {"new", "assigned", "in_progress", "pending", "resolved", "closed"},
    TicketType.SERVICE_REQUEST: {"new", "in_fulfilment", "pending", "fulfilled", "closed"},
    TicketType.PROBLEM: {"new", "investigating", "known_error", "resolved", "closed"},
    TicketType.CHANGE: {
        "draft",
        "submitted",
        "awaiting_approval",
        "approved",
        "rejected",
        "scheduled",
        "implemented",
        "reviewed",
        "closed",
    },
    TicketType.RELEASE: {"planned", "building", "deploying", "deployed", "closed"},
}

PAIRS = [
    (ticket_type, current, wanted)
    for ticket_type, statuses in STATUSES.items()
    for current, wanted in itertools.product(sorted(statuses), repeat=2)
]


def test_each_type_has_the_issues_statuses_and_starts_in_one() -> None:
    for ticket_type, statuses in STATUSES.items():
        assert set(LIFECYCLES[ticket_type]) == statuses
        assert INITIAL_STATUS[ticket_type] in statuses
        for targets in LIFECYCLES[ticket_type].values():
            assert targets <= statuses


@pytest.mark.parametrize(("ticket_type", "current", "wanted"), PAIRS)
def test_every_pair_of_statuses(ticket_type: TicketType, current: str, wanted: str) -> None:
    if wanted in LIFECYCLES[ticket_type][current]:
        check_transition(ticket_type, current, wanted)
        return
    with pytest.raises(ForbiddenTransition) as refused:
        check_transition(ticket_type, current, wanted)
    message = str(refused.value)
    assert repr(current) in message
    assert repr(wanted) in message
    for allowed in LIFECYCLES[ticket_type][current]:
        assert allowed in message


def test_every_status_is_reachable_from_the_start() -> None:
    for ticket_type, table in LIFECYCLES.items():
        seen, todo = set(), [INITIAL_STATUS[ticket_type]]
        while todo:
            status = todo.pop()
            if status not in seen:
                seen.add(status)
                todo.extend(table[status])
        assert seen == set(table), ticket_type


def test_an_unknown_status_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ForbiddenTransition, match="statuses: new, assigned"):
        check_transition(TicketType.INCIDENT, "new", "done")
