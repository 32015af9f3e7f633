"""TicketWatcher: sees the tickets the daemon commits, by polling its database.

Apart from bench/watchers.py so that ingest.py, and the ceiling server it starts,
never import the ORM (8 MB more RSS, and the ceiling's figures would move).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from mailgen import Mail
from sqlalchemy import select
from watchers import Watcher

from mailbridge.store import Store
from mailbridge.store.models import Article, ArticleKind, IntakeRecord, Ticket

TICKET_POLL = 0.02  # seconds between queries for new tickets


class TicketWatcher(Watcher):
    """Every TICKET_POLL seconds: the inbound articles committed since the last look,
    matched to the mails by Message-ID; keeps when each was first seen, its ticket's
    created_at and its intake record's received_at (time_ns, 0: none)."""

    poll = TICKET_POLL
    what = "new ticket"

    def __init__(self, store: Store, mails: Sequence[Mail]) -> None:
        super().__init__(name="ticket-watcher")
        self.store = store
        self.by_id = {m.message_id: m.index for m in mails}
        self.seen_ns = [0] * len(mails)
        self.created_ns = [0] * len(mails)
        self.received_ns = [0] * len(mails)
        self.strays = 0  # articles for no mail of ours, or for one seen before
        self._last_id = 0

    def look(self) -> None:
        query = (
            select(Article.id, Article.message_id, Ticket.created_at, IntakeRecord.received_at)
            .join(Ticket, Article.ticket_id == Ticket.id)
            .outerjoin(IntakeRecord, Article.intake_id == IntakeRecord.id)
            .where(Article.id > self._last_id, Article.kind == ArticleKind.INBOUND_REPLY)
            .order_by(Article.id)
        )
        with self.store.reading() as session:
            rows = session.execute(query).all()
        seen = time.time_ns()
        for article_id, message_id, created_at, received_at in rows:
            self._last_id = article_id
            index = self.by_id.get(message_id or "")
            if index is None or self.seen_ns[index]:
                self.strays += 1
                continue
            self.seen_ns[index] = seen
            self.created_ns[index] = _ns(created_at)
            received = cast("datetime | None", received_at)  # the outer join's None
            self.received_ns[index] = 0 if received is None else _ns(received)
            self.found_one()


def _ns(moment: datetime) -> int:
    return round(moment.timestamp() * 1e9)
