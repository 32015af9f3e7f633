"""The worker: takes committed intake records into tickets and delivers the outbox.

This is part of the composition root: it wires the engine (which returns
events) to notifiers (which add outbox rows) inside one transaction per batch,
a group commit that PostgreSQL needs for throughput. Parsing, the CPU-heavy
part, happens before the write transaction opens, so receivers committing new
mail wait on the database lock as little as possible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

import parsers
from mailbridge.clock import Clock
from mailbridge.engine import intake
from mailbridge.errors import PermanentFailure, TemporaryFailure
from mailbridge.ids import IdSource
from mailbridge.settings import Settings
from mailbridge.store import Store
from mailbridge.store.models import IntakeRecord
from mailbridge.store.session import UNAVAILABLE
from notifiers import Renderer, deliver_due, enqueue
from notifiers.delivery import Transport, make_transport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchResult:
    taken: int
    quarantined: int


class Worker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock,
        ids: IdSource,
        renderer: Renderer | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.ids = ids
        self.renderer = renderer or Renderer()
        self.transport = transport or make_transport(settings.outbound)

    def take_batch(self, only: list[int] | None = None) -> BatchResult:
        """Process one batch of due intake records (or just `only`); return counts."""
        now = self.clock.now()
        with self.store.transaction() as session:
            ids = (
                only
                if only is not None
                else intake.due_ids(session, now, self.settings.intake.batch_size)
            )
            query = select(IntakeRecord.id, IntakeRecord.raw).where(IntakeRecord.id.in_(ids))
            raws: dict[int, bytes] = dict(session.execute(query).all())  # rows are pairs
        if not raws:
            return BatchResult(0, 0)
        parsed: dict[int, parsers.ParsedMail | parsers.Unparseable] = {}
        for record_id, raw in raws.items():
            try:
                parsed[record_id] = parsers.parse(raw)
            except parsers.Unparseable as error:
                parsed[record_id] = error
        return self._apply(parsed)

    def _apply(self, parsed: dict[int, parsers.ParsedMail | parsers.Unparseable]) -> BatchResult:
        taken = quarantined = 0
        max_attempts = self.settings.intake.max_attempts
        with self.store.transaction() as session:
            now = self.clock.now()
            for record in intake.claim(session, list(parsed)):
                mail = parsed[record.id]
                if isinstance(mail, parsers.Unparseable):
                    intake.record_failure(
                        record,
                        f"unparseable: {mail}",
                        permanent=True,
                        now=now,
                        max_attempts=max_attempts,
                    )
                    quarantined += 1
                    log.warning(
                        "intake.quarantined", extra={"intake_id": record.id, "reason": str(mail)}
                    )
                    continue
                try:
                    with session.begin_nested():
                        events = intake.take(session, record, mail, self.settings, now)
                        enqueue(
                            session,
                            events,
                            settings=self.settings,
                            renderer=self.renderer,
                            ids=self.ids,
                            now=now,
                        )
                except UNAVAILABLE:
                    raise
                except Exception as error:
                    permanent = isinstance(error, PermanentFailure)
                    intake.record_failure(
                        record,
                        f"{type(error).__name__}: {error}",
                        permanent=permanent,
                        now=now,
                        max_attempts=max_attempts,
                    )
                    log.exception("intake.failed", extra={"intake_id": record.id})
                    quarantined += record.status == "quarantined"
                    continue
                taken += 1
        return BatchResult(taken, quarantined)

    def deliver(self) -> int:
        return deliver_due(self.store, self.settings.outbound, self.transport, self.clock)

    def run(self, should_stop: Callable[[], bool], wait: Callable[[float], None]) -> None:
        """Loop until told to stop: take intake, deliver, then wait to be woken or time out."""
        interval = self.settings.intake.poll_interval
        failures = 0
        while not should_stop():
            try:
                result = self.take_batch()
                sent = self.deliver()
                failures = 0
            except TemporaryFailure as error:
                failures += 1
                log.warning("worker.store_unavailable", extra={"error": str(error)})
                wait(min(30.0, 0.5 * 2**failures))
                continue
            if result.taken == 0 and sent == 0 and result.quarantined == 0:
                wait(interval)
