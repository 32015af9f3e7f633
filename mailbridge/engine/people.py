"""Who takes part in a ticket besides its requester: watchers, taken from Cc.

Cc'd colleagues become watchers and are kept informed (agent replies, status
changes). Our own addresses, agents (they work the ticket, they do not watch
it) and the requester are never watchers; a mail's word is capped, so a mail
Cc'd to a whole company adds a few watchers, not thousands.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from mailbridge.settings import Settings
from mailbridge.store.models import Watcher
from mailbridge.store.upsert import insert_missing
from parsers import Classification, ParsedMail

MAX_NEW_WATCHERS = 20  # per mail


def watchers_from(parsed: ParsedMail, settings: Settings, *, besides: Iterable[str]) -> list[str]:
    """Addresses of a mail's Cc (and To, beside our queues) that should watch its ticket."""
    if parsed.classification is not Classification.HUMAN:
        return []
    skip = {a.lower() for a in besides if a}
    if parsed.sender:
        skip.add(parsed.sender.lower())
    found: list[str] = []
    for address in (*parsed.cc, *parsed.to):
        lowered = address.lower()
        if (
            lowered in skip
            or "@" not in lowered
            or len(lowered) > 320
            or settings.queue_for(lowered) is not None
            or lowered in settings.own_addresses
            or settings.agent(lowered) is not None
        ):
            continue
        skip.add(lowered)
        found.append(lowered)
    return found[:MAX_NEW_WATCHERS]


def add_watchers(session: Session, rows: list[tuple[int, str]], now: datetime) -> None:
    """Add (ticket id, address) pairs; a pair already there is left as it is."""
    values = [
        {"ticket_id": ticket_id, "address": address, "created_at": now}
        for ticket_id, address in dict.fromkeys(rows)
    ]
    insert_missing(session, Watcher, values, ["ticket_id", "address"])
