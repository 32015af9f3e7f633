"""Events the engine returns: what happened to a ticket, for notifiers to act on.

Plain frozen values, so the engine never calls notifiers (data moves one way).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketOpened:
    """A mail opened a ticket. `acknowledge` is False when answering could start a loop."""

    event_id: int
    ticket_id: int
    ref: str
    queue: str
    subject: str
    requester: str
    language: str | None
    inbound_message_id: str | None
    inbound_references: tuple[str, ...]
    acknowledge: bool
    silence_reason: str


TicketEvent = TicketOpened
