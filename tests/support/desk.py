"""A help desk in this process: real database, real worker, Maildir outbound, a clock in hand.

For tests that must cross hours or days (reopen windows, rate limits, auto-close)
without sleeping; scenarios that need the daemon as users run it are in tests/e2e.
"""

from __future__ import annotations

from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailbridge.engine.intake import IncomingMail, receive
from mailbridge.events import TicketEvent
from mailbridge.ids import SecretsIds
from mailbridge.settings import Settings
from mailbridge.store import Store
from mailbridge.store.models import Ticket
from mailbridge.worker import Worker
from tests.support.clock import StepClock


class LocalDesk:
    def __init__(self, settings: Settings, store: Store, clock: StepClock | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or StepClock()
        self.worker = Worker(settings, store, clock=self.clock, ids=SecretsIds())
        self.maildir = Path(settings.outbound.maildir)
        self._seen: set[str] = set()

    def receive(self, raw: bytes, *, sender: str, to: tuple[str, ...] | list[str]) -> None:
        mail = IncomingMail(
            raw=raw, envelope_sender=sender, envelope_recipients=tuple(to), adapter="smtp"
        )
        receive(self.store, mail, self.clock)

    def take(self) -> None:
        """Take everything received, and record what was sent."""
        while self.worker.take_batch().taken:
            pass
        self.worker.record_sends()

    def act(self, action: Callable[..., list[TicketEvent]], *args: Any) -> None:
        """Run an agent action (engine.actions) as the CLI does, then deliver its mail."""
        with self.store.transaction() as session:
            events = action(session, self.settings, *args, self.clock.now())
            self.worker.notify(session, events, self.clock.now())
        self.worker.deliver()

    def sent(self) -> list[EmailMessage]:
        """Mails written to the Maildir since the last call, oldest first."""
        new = self.maildir / "new"
        paths = sorted(p for p in new.iterdir() if p.name not in self._seen) if new.is_dir() else []
        self._seen.update(p.name for p in paths)
        parser = BytesParser(policy=policy.default)
        found = []
        for path in paths:
            message = parser.parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def ticket(self, ref: str) -> dict[str, Any]:
        with self.store.reading() as session:
            ticket = session.scalars(
                select(Ticket).where(Ticket.ref == ref).options(selectinload(Ticket.articles))
            ).one()
            return {
                "status": ticket.status,
                "owner": ticket.owner,
                "priority": ticket.priority,
                "articles": [
                    (a.kind.value, a.thread_key, a.sender, a.text.strip()) for a in ticket.articles
                ],
            }

    def refs(self) -> list[str]:
        with self.store.reading() as session:
            return list(session.scalars(select(Ticket.ref).order_by(Ticket.id)))
