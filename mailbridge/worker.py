"""The worker: takes committed intake records into tickets and delivers the outbox.

This is part of the composition root: it wires the engine (which returns
events) to notifiers (which add outbox rows) inside one transaction per batch,
a group commit that PostgreSQL needs for throughput. Parsing, the CPU-heavy
part, happens before the write transaction opens. On SQLite the batch starts
with what receivers committed to the spool (see store/spool.py), moved into the
main database by the batch's own transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import parsers
from mailbridge.clock import Clock
from mailbridge.engine import intake
from mailbridge.engine.schedule import due_work
from mailbridge.errors import PermanentFailure, TemporaryFailure
from mailbridge.events import TicketEvent
from mailbridge.ids import IdSource
from mailbridge.settings import Settings, parser_limits
from mailbridge.signing import Signer
from mailbridge.store import Store
from mailbridge.store.models import IntakeRecord, IntakeStatus
from mailbridge.store.spool import copy_into, forget, move_spooled, read_spooled
from mailbridge.store.upsert import installation_secret
from notifiers import Renderer, deliver_due, enqueue
from notifiers.delivery import Outgoing, Transport, make_transport, record_results
from notifiers.guard import prune

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = timedelta(minutes=1)


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
        spool: Store | None = None,
        send_in_background: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        with store.reading() as session:
            self.signer = Signer(installation_secret(session))
        self._next_housekeeping = clock.now()
        self.spool = spool
        self.limits = parser_limits(settings)
        self.clock = clock
        self.ids = ids
        self.renderer = renderer or Renderer()
        self.transport = transport or make_transport(settings.outbound)
        # Outcomes of sends not yet written down; they ride along with the next
        # write transaction instead of taking SQLite's write lock on their own.
        self._unrecorded: dict[int, Exception | None] = {}
        # The daemon sends on a thread of its own: the worker parses the next
        # batch while the disk (fsync) or the relay answers.
        self._sender = ThreadPoolExecutor(1, "sender") if send_in_background else None
        self._in_flight: list[Future[dict[int, Exception | None]]] = []

    def take_batch(self, only: list[int] | None = None) -> BatchResult:
        """Process one batch of due intake records (or just `only`); return counts.

        Without `only`, the batch starts with what waits in the spool (SQLite),
        moved into the main database by the batch's own transaction.
        """
        spooled = (
            read_spooled(self.spool, self.settings.intake.batch_size)
            if only is None and self.spool
            else []
        )
        raws: dict[int, bytes] = {row["id"]: row["raw"] for row in spooled}
        now = self.clock.now()
        with self.store.reading() as session:
            ids = (
                only
                if only is not None
                else intake.due_ids(session, now, self.settings.intake.batch_size - len(raws))
            )
            if ids:
                query = select(IntakeRecord.id, IntakeRecord.raw).where(IntakeRecord.id.in_(ids))
                raws.update((record_id, raw) for record_id, raw in session.execute(query))
        if not raws:
            return BatchResult(0, 0)
        parsed: dict[int, parsers.ParsedMail | parsers.Unparseable] = {}
        for record_id, raw in raws.items():
            try:
                parsed[record_id] = parsers.parse(raw, limits=self.limits)
            except parsers.Unparseable as error:
                parsed[record_id] = error
            except Exception as error:  # a parser bug quarantines one mail
                log.exception("intake.parser_crashed", extra={"intake_id": record_id})
                parsed[record_id] = parsers.Unparseable(
                    f"the parser failed on this mail ({type(error).__name__}: {error})"
                )
        return self._apply(parsed, spooled)

    def move_spooled(self) -> int:
        """Bring what receivers committed to the spool (SQLite) into the main database."""
        if self.spool is None:
            return 0
        return move_spooled(self.spool, self.store, self.settings.intake.batch_size)

    def _apply(
        self,
        parsed: dict[int, parsers.ParsedMail | parsers.Unparseable],
        spooled: list[dict[str, Any]] | None = None,
    ) -> BatchResult:
        """Take the batch in one transaction; if it fails, take each record alone,
        so one bad mail costs its own retry and not its neighbours'."""
        try:
            return self._apply_together(parsed, spooled or [])
        except TemporaryFailure:
            raise
        except Exception as error:  # a bug must not stop the queue
            if spooled and self.spool is not None:
                # Kept first: a failure must be counted on a record in the main database.
                with self.store.connection() as connection:
                    copy_into(connection, spooled)
                forget(self.spool, spooled)
            if len(parsed) > 1:
                log.warning("intake.batch_failed", extra={"records": len(parsed)})
                results = [self._apply({key: mail}) for key, mail in parsed.items()]
                return BatchResult(
                    sum(r.taken for r in results), sum(r.quarantined for r in results)
                )
            [record_id] = parsed
            log.exception("intake.failed", extra={"intake_id": record_id})
            return self._fail(
                record_id,
                f"{type(error).__name__}: {error}",
                permanent=isinstance(error, PermanentFailure),
            )

    def _apply_together(
        self,
        parsed: dict[int, parsers.ParsedMail | parsers.Unparseable],
        spooled: list[dict[str, Any]],
    ) -> BatchResult:
        quarantined = 0
        self._collect_sends(wait=False)
        recorded = dict(self._unrecorded)
        with self.store.transaction() as session:
            now = self.clock.now()
            copy_into(session.connection(), spooled)
            record_results(session, recorded, now, self.settings.outbound)
            good: list[tuple[intake.Claimed, parsers.ParsedMail]] = []
            for claimed in intake.claim(session, list(parsed)):
                mail = parsed[claimed.id]
                if isinstance(mail, parsers.Unparseable):
                    record = session.get_one(IntakeRecord, claimed.id)
                    intake.record_failure(
                        record,
                        f"unparseable: {mail}",
                        permanent=True,
                        now=now,
                        max_attempts=self.settings.intake.max_attempts,
                    )
                    log.warning(
                        "intake.quarantined", extra={"intake_id": record.id, "reason": str(mail)}
                    )
                    quarantined += 1
                else:
                    good.append((claimed, mail))
            events = intake.take_all(session, good, self.settings, self.signer, now)
            # Leased at birth and sent right after the commit: no extra transaction.
            outgoing = self.notify(session, events, now, lease_until=now + self.transport.lease)
        if self.spool is not None:
            forget(self.spool, spooled)
        for key in recorded:
            self._unrecorded.pop(key, None)
        if outgoing:
            self._send(outgoing)
        return BatchResult(len(good), quarantined)

    def _send(self, outgoing: list[Outgoing]) -> None:
        if self._sender is None:
            self._unrecorded.update(self.transport.send(outgoing))
        else:
            self._in_flight.append(self._sender.submit(self.transport.send, outgoing))

    def _collect_sends(self, *, wait: bool) -> None:
        """Take the outcomes of background sends that ended (all of them, if `wait`)."""
        running: list[Future[dict[int, Exception | None]]] = []
        for future in self._in_flight:
            if not wait and not future.done():
                running.append(future)
                continue
            try:
                self._unrecorded.update(future.result())
            except Exception:  # a transport bug: the leases expire and the mail is sent again
                log.exception("delivery.send_failed")
        self._in_flight = running

    def record_sends(self) -> None:
        """Write down the outcome of sends made after the last commit."""
        self._collect_sends(wait=True)
        if self._unrecorded:
            recorded = dict(self._unrecorded)
            with self.store.transaction() as session:
                record_results(session, recorded, self.clock.now(), self.settings.outbound)
            for key in recorded:
                self._unrecorded.pop(key, None)

    def _fail(self, record_id: int, reason: str, *, permanent: bool) -> BatchResult:
        with self.store.transaction() as session:
            if not intake.claim(session, [record_id]):
                return BatchResult(0, 0)
            record = session.get_one(IntakeRecord, record_id)
            intake.record_failure(
                record,
                reason,
                permanent=permanent,
                now=self.clock.now(),
                max_attempts=self.settings.intake.max_attempts,
            )
            return BatchResult(0, int(record.status is IntakeStatus.QUARANTINED))

    def deliver(self) -> int:
        """Record the outcome of recent sends, then deliver what is due (retries)."""
        self.record_sends()
        return deliver_due(self.store, self.settings.outbound, self.transport, self.clock)

    def housekeeping(self, *, force: bool = False) -> int:
        """Close resolved tickets, remind pending ones, forget old rate-limit rows;
        at most once a minute unless forced. Returns how many mails it queued."""
        now = self.clock.now()
        if not force and now < self._next_housekeeping:
            return 0
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        with self.store.transaction() as session:
            events = due_work(session, self.settings, now)
            prune(session, now)
            queued = self.notify(session, events, now)
        return len(queued)

    def notify(
        self,
        session: Session,
        events: Sequence[TicketEvent],
        now: datetime,
        *,
        lease_until: datetime | None = None,
    ) -> list[Outgoing]:
        """Queue the mails these events call for, in the caller's transaction."""
        return enqueue(
            session,
            events,
            settings=self.settings,
            renderer=self.renderer,
            ids=self.ids,
            signer=self.signer,
            now=now,
            lease_until=lease_until,
        )

    def run(self, should_stop: Callable[[], bool], wait: Callable[[float], None]) -> None:
        """Loop until told to stop: take intake, deliver, then wait to be woken or time out."""
        try:
            self._loop(should_stop, wait)
        finally:
            # Sent mail whose outcome is not written down would be sent again
            # once its lease expires.
            with contextlib.suppress(TemporaryFailure):
                self.record_sends()
            if self._sender is not None:
                self._sender.shutdown()

    def _loop(self, should_stop: Callable[[], bool], wait: Callable[[float], None]) -> None:
        interval = self.settings.intake.poll_interval
        failures = 0
        while not should_stop():
            try:
                result = self.take_batch()
                # Busy: retries and bookkeeping wait for a quiet moment.
                if result.taken == 0:
                    self.housekeeping()
                sent = self.deliver() if result.taken == 0 else 0
                failures = 0
            except TemporaryFailure as error:
                failures += 1
                log.warning("worker.store_unavailable", extra={"error": str(error)})
                wait(min(30.0, 0.5 * 2**failures))
                continue
            except Exception:  # a bug: log it, back off, keep the queue moving
                failures += 1
                log.exception("worker.failed")
                wait(min(30.0, 0.5 * 2**failures))
                continue
            # No pause to let mail gather: what arrives while a batch is taken makes
            # the next batch, and receivers no longer wait on the worker's lock.
            if result.taken == 0 and sent == 0 and result.quarantined == 0:
                wait(interval)
