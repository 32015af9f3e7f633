"""ITIL lifecycles as explicit transition tables, one per ticket type.

A status change is allowed only if the table lists it; anything else is a
ForbiddenTransition naming the allowed targets, never a silent change. Tables,
not code paths, so a reviewer (or an auditor) reads the whole lifecycle here
and the tests walk every pair of statuses.

Choices where ITIL leaves room:
- A resolved or closed ticket may go back to work (a requester's reply within
  the reopen window); after the window the engine opens a linked ticket instead.
- Pending ("waiting for the requester or a third party") is reachable from any
  working status and returns to work.
- Changes follow their approval: submitted goes to awaiting approval (normal
  and emergency changes) or straight to approved (standard, pre-approved
  changes); a rejected change may be reworked as a draft or closed.
"""

from __future__ import annotations

from collections.abc import Mapping

from mailbridge.errors import PolicyViolation
from mailbridge.store.models import TicketType

Table = Mapping[str, frozenset[str]]


def _table(edges: dict[str, set[str]]) -> Table:
    return {status: frozenset(targets) for status, targets in edges.items()}


LIFECYCLES: Mapping[TicketType, Table] = {
    TicketType.INCIDENT: _table(
        {
            "new": {"assigned", "in_progress", "pending", "resolved", "closed"},
            "assigned": {"in_progress", "pending", "resolved"},
            "in_progress": {"assigned", "pending", "resolved"},
            "pending": {"assigned", "in_progress", "resolved"},
            "resolved": {"closed", "in_progress"},
            "closed": {"in_progress"},
        }
    ),
    TicketType.SERVICE_REQUEST: _table(
        {
            "new": {"in_fulfilment", "pending", "fulfilled", "closed"},
            "in_fulfilment": {"pending", "fulfilled"},
            "pending": {"in_fulfilment", "fulfilled"},
            "fulfilled": {"closed", "in_fulfilment"},
            "closed": {"in_fulfilment"},
        }
    ),
    TicketType.PROBLEM: _table(
        {
            "new": {"investigating", "closed"},
            "investigating": {"known_error", "resolved"},
            "known_error": {"investigating", "resolved"},
            "resolved": {"closed", "investigating"},
            "closed": {"investigating"},
        }
    ),
    TicketType.CHANGE: _table(
        {
            "draft": {"submitted", "closed"},
            "submitted": {"awaiting_approval", "approved", "draft"},
            "awaiting_approval": {"approved", "rejected"},
            "approved": {"scheduled", "closed"},
            "rejected": {"draft", "closed"},
            "scheduled": {"implemented", "approved"},
            "implemented": {"reviewed"},
            "reviewed": {"closed"},
            "closed": set(),
        }
    ),
    TicketType.RELEASE: _table(
        {
            "planned": {"building", "closed"},
            "building": {"deploying", "planned"},
            "deploying": {"deployed", "building"},
            "deployed": {"closed"},
            "closed": set(),
        }
    ),
}

INITIAL_STATUS: Mapping[TicketType, str] = {
    TicketType.INCIDENT: "new",
    TicketType.SERVICE_REQUEST: "new",
    TicketType.PROBLEM: "new",
    TicketType.CHANGE: "draft",
    TicketType.RELEASE: "planned",
}


class ForbiddenTransition(PolicyViolation):
    """A status change the ticket type's lifecycle does not allow."""


def check_transition(ticket_type: TicketType, current: str, wanted: str) -> None:
    """Return if `current` -> `wanted` is allowed for this type; raise ForbiddenTransition
    (naming the statuses that are allowed) otherwise."""
    table = LIFECYCLES[ticket_type]
    if wanted not in table:
        known = ", ".join(table)
        raise ForbiddenTransition(
            f"{wanted!r} is not a status in the {ticket_type.value} lifecycle (statuses: {known})"
        )
    allowed = table.get(current, frozenset())
    if wanted not in allowed:
        choices = ", ".join(sorted(allowed)) or "none: the ticket is closed for good"
        raise ForbiddenTransition(
            f"the {ticket_type.value} lifecycle does not go from {current!r} to {wanted!r} "
            f"(from {current!r}: {choices})"
        )
