"""Who may get a mail from us now: the RFC 3834 rules that keep mail storms out.

- Never our own addresses (any queue, the sender address, their sub-addresses).
- Never an address a delivery failure report marked undeliverable.
- Automatic mail (acknowledgements, notices, reminders): at most
  `outbound.automatic_per_hour` to one address in any hour, counted in the
  database so a restart or a second node does not reset it; and at most one
  acknowledgement per address and conversation in an hour, so two help desks
  acknowledging each other stop after one round.
A human's mail (an agent's reply) is never rate limited: an agent means it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from mailbridge.rfc3834 import never_answered
from mailbridge.settings import Settings
from mailbridge.store.models import AutomaticMail, UndeliverableAddress
from notifiers.headers import checked_address

WINDOW = timedelta(hours=1)
KEEP = timedelta(days=1)  # rows older than this count for nothing: pruned now and then


class Guard:
    """The storm rules for one batch of mails, with their counts loaded once."""

    def __init__(
        self, session: Session, settings: Settings, now: datetime, addresses: Iterable[str]
    ) -> None:
        self._session = session
        self._settings = settings
        self._now = now
        wanted = {a.lower() for a in addresses}
        _lock(session, wanted)
        self.undeliverable = self._undeliverable(wanted)
        self._sent: Counter[str] = Counter()
        self._acknowledged: set[tuple[str, int | None]] = set()
        if wanted:
            since = now - WINDOW
            rows = session.execute(
                select(
                    AutomaticMail.address, AutomaticMail.conversation_id, AutomaticMail.kind
                ).where(AutomaticMail.address.in_(wanted), AutomaticMail.sent_at > since)
            )
            for address, conversation_id, kind in rows:
                self._sent[address] += 1
                if kind == "acknowledgement":
                    self._acknowledged.add((address, conversation_id))
        self._log: list[dict[str, object]] = []

    def _undeliverable(self, wanted: set[str]) -> set[str]:
        if not wanted:
            return set()
        query = select(UndeliverableAddress.address).where(UndeliverableAddress.address.in_(wanted))
        return set(self._session.scalars(query))

    def is_ours(self, address: str) -> bool:
        own = self._settings.own_addresses
        return address in own or self._settings.queue_for(address) is not None

    def deliverable(self, addresses: Iterable[str]) -> list[str]:
        """The addresses we may write to at all, checked and lower-cased, once each."""
        found: list[str] = []
        for address in addresses:
            checked = checked_address(address.strip().lower())
            if (
                checked is None
                or checked in found
                or checked in self.undeliverable
                or self.is_ours(checked)
            ):
                continue
            found.append(checked)
        return found

    def automatic(
        self, addresses: list[str], kind: str, conversation_id: int, silenced: Iterable[str] = ()
    ) -> list[str]:
        """Those of `addresses` that may get this automatic mail now; counted as sent.

        Never agents (they work the ticket), never mailer-daemon, noreply and
        the like, never `silenced` (a requester whose own mail was automatic).
        """
        allowed = []
        limit = self._settings.outbound.automatic_per_hour
        skip = {a.lower() for a in silenced}
        for address in addresses:
            if (
                address in skip
                or self._sent[address] >= limit
                or never_answered(address) is not None
                or self._settings.agent(address) is not None
            ):
                continue
            if kind == "acknowledgement" and (address, conversation_id) in self._acknowledged:
                continue
            self._sent[address] += 1
            if kind == "acknowledgement":
                self._acknowledged.add((address, conversation_id))
            self._log.append(
                {
                    "address": address,
                    "conversation_id": conversation_id,
                    "kind": kind,
                    "sent_at": self._now,
                }
            )
            allowed.append(address)
        return allowed

    def save(self) -> None:
        """Write down the automatic mails allowed, in the caller's transaction."""
        if self._log:
            self._session.execute(insert(AutomaticMail), self._log)
            self._log = []


def _lock(session: Session, addresses: set[str]) -> None:
    """PostgreSQL: hold a transaction lock per address, so two nodes writing to one
    address count each other's mails (in sorted order: no deadlock between them).
    SQLite has one writer at a time already."""
    if not addresses or session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(_lock_key(a) for a in addresses):
        session.execute(select(func.pg_advisory_xact_lock(key)))


def _lock_key(address: str) -> int:
    # A signed 64-bit key from the address; a namespace byte keeps other users apart.
    digest = hashlib.sha256(b"mailbridge-rate:" + address.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def prune(session: Session, now: datetime) -> int:
    """Forget automatic mails older than a day; return how many rows went."""
    oldest = session.scalar(select(func.min(AutomaticMail.sent_at)))
    if oldest is None or oldest > now - KEEP:
        return 0
    result = session.execute(delete(AutomaticMail).where(AutomaticMail.sent_at < now - KEEP))
    return int(getattr(result, "rowcount", 0) or 0)
