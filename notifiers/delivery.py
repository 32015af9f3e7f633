"""Delivering the outbox: to a Maildir (development, tests) or an SMTP relay.

Rows are leased in a short transaction, sent with no transaction open (no
transaction spans network I/O), then marked in another. A crash after sending
and before marking re-sends once the lease expires: at-least-once. The Maildir
file is named by the outbox id, so a re-run rewrites it instead of adding one.
"""

from __future__ import annotations

import ctypes
import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mailbridge.clock import Clock
from mailbridge.errors import PermanentFailure, RelayUnavailable
from mailbridge.settings import OutboundSettings
from mailbridge.store import Store
from mailbridge.store.models import Article, ArticleKind, Event, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    sender: str
    recipients: tuple[str, ...]
    raw: bytes


class Transport(Protocol):
    # How long a batch may take: a crash mid-batch delays its mail by this much.
    lease: timedelta

    def send(self, batch: list[Outgoing]) -> dict[int, Exception | None]:
        """Send each mail; map outbox id to None (sent) or the error it met."""
        ...


class MaildirTransport:
    """Writes each mail as a file in new/ via tmp/ (the Maildir delivery protocol)."""

    lease = timedelta(seconds=30)

    def __init__(self, root: Path) -> None:
        self.root = root
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._made = False  # tmp/new/cur exist; checked again after any failure

    def send(self, batch: list[Outgoing]) -> dict[int, Exception | None]:
        results: dict[int, Exception | None] = {}
        try:
            if not self._made:
                for sub in ("tmp", "new", "cur"):
                    (self.root / sub).mkdir(parents=True, exist_ok=True)
                self._made = True
        except OSError as error:
            return {m.id: RelayUnavailable(f"maildir {self.root}: {error}") for m in batch}
        written: list[tuple[int, Path]] = []
        for mail in batch:
            name = f"mailbridge-{mail.id:010d}.{self._host}"
            tmp = self.root / "tmp" / name
            try:
                tmp.write_bytes(mail.raw)
                written.append((mail.id, tmp))
            except OSError as error:
                self._made = False
                results[mail.id] = RelayUnavailable(f"maildir {self.root}: {error}")
        # Durable before visible (the Maildir protocol), with one flush for the
        # whole batch instead of an fsync per file.
        _flush_to_disk(self.root, [path for _, path in written])
        for mail_id, tmp in written:
            try:
                os.replace(tmp, self.root / "new" / tmp.name)
                results[mail_id] = None
            except OSError as error:
                self._made = False
                results[mail_id] = RelayUnavailable(f"maildir {self.root}: {error}")
        _flush_to_disk(self.root, [self.root / "new"])
        return results


def _flush_to_disk(root: Path, paths: list[Path]) -> None:
    """Make these files (or directories) durable: syncfs(2) once on Linux, else fsync each."""
    if not paths:
        return
    if _syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if _syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return function


_syncfs = _load_syncfs()


class SmtpTransport:
    """Sends through a relay over one connection per batch, STARTTLS and AUTH if configured."""

    def __init__(self, settings: OutboundSettings) -> None:
        self.settings = settings
        self.lease = timedelta(seconds=max(60.0, settings.timeout * 10))

    def send(self, batch: list[Outgoing]) -> dict[int, Exception | None]:
        s = self.settings
        try:
            client = smtplib.SMTP(s.relay_host, s.relay_port, timeout=s.timeout)
        except (OSError, smtplib.SMTPException) as error:
            reason = RelayUnavailable(f"relay {s.relay_host}:{s.relay_port}: {error}")
            return {m.id: reason for m in batch}
        results: dict[int, Exception | None] = {}
        try:
            client.ehlo()
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if s.user:
                client.login(s.user, s.password)
            for mail in batch:
                results[mail.id] = _send_one(client, mail)
        except (OSError, smtplib.SMTPException) as error:
            # EHLO, STARTTLS or AUTH refused, or the connection dropped: a problem of
            # the session or the config, never a verdict on these mails. Retry them.
            log.error(  # noqa: TRY400 -- one line, no traceback
                "outbox.relay_session_failed",
                extra={"relay": f"{s.relay_host}:{s.relay_port}", "error": str(error)},
            )
            failure = RelayUnavailable(f"relay {s.relay_host}:{s.relay_port}: {error}")
            results.update({m.id: failure for m in batch if m.id not in results})
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return results


class PartlyRefused(Exception):
    """The relay took the mail for some recipients and refused others: those it
    deferred (4xx) are tried again, those it refused for good (5xx) are reported."""

    def __init__(self, refused: dict[str, tuple[int, bytes]]) -> None:
        self.deferred = sorted(r for r, (code, _) in refused.items() if code < 500)
        self.failed = sorted(r for r, (code, _) in refused.items() if code >= 500)
        said = {r: f"{r}: {code} {_words(text)}" for r, (code, text) in refused.items()}
        self.failed_text = "relay refused " + "; ".join(said[r] for r in self.failed)
        super().__init__("relay refused " + "; ".join(said.values()))


def _send_one(client: smtplib.SMTP, mail: Outgoing) -> Exception | None:
    try:
        refused = client.sendmail(mail.sender, list(mail.recipients), mail.raw)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if all(code >= 500 for code in codes):
            return PermanentFailure(str(PartlyRefused(error.recipients)))
        if all(code < 500 for code in codes):
            return RelayUnavailable(str(PartlyRefused(error.recipients)))
        return PartlyRefused(error.recipients)
    except smtplib.SMTPResponseException as error:
        return _translate(error)
    if refused:
        log.warning("outbox.partly_refused", extra={"outbox_id": mail.id, "refused": list(refused)})
        return PartlyRefused(refused)
    return None


def _words(said: bytes | str) -> str:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return " ".join(text.split())


def _translate(error: smtplib.SMTPResponseException) -> Exception:
    text = f"relay answered {error.smtp_code} {_words(error.smtp_error)}"
    return PermanentFailure(text) if error.smtp_code >= 500 else RelayUnavailable(text)


def make_transport(settings: OutboundSettings) -> Transport:
    if settings.mode == "smtp":
        return SmtpTransport(settings)
    return MaildirTransport(Path(settings.maildir))


def backoff(attempts: int) -> timedelta:
    """30 s, 2 min, 8 min, … capped at 2 hours."""
    return timedelta(seconds=min(7200, 30 * 4 ** max(0, attempts - 1)))


def lease(rows: Iterable[OutboxMessage], now: datetime, transport: Transport) -> list[Outgoing]:
    """Count an attempt on each row and hide it from other senders for the transport's
    lease; call inside the transaction that loaded (or created) the rows."""
    batch = []
    for row in rows:
        row.attempts = (row.attempts or 0) + 1
        row.next_attempt_at = now + transport.lease
        batch.append(Outgoing(row.id, row.sender, tuple(row.recipients), row.raw))
    return batch


def record_results(
    session: Session,
    results: dict[int, Exception | None],
    now: datetime,
    settings: OutboundSettings,
) -> int:
    """Mark leased rows sent, retried later or failed; return how many were sent.

    A mail that fails for good (a 5xx, too many attempts, older than
    `max_age_hours`) says so on its ticket: an event and an internal note.
    """
    if not results:
        return 0
    sent = 0
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(list(results))))
    for row in rows:
        error = results[row.id]
        if isinstance(error, PartlyRefused):
            failed = error.failed
            if error.deferred:  # the row lives on for them alone
                row.recipients = error.deferred
                _mark(row, RelayUnavailable(str(error)), now, settings)
            else:
                _mark(row, None, now, settings)
            if failed and row.ticket_id is not None:
                _show_failure(session, row, now, failed, error.failed_text)
        elif _mark(row, error, now, settings) and row.ticket_id is not None:
            _show_failure(session, row, now, row.recipients, row.last_error or "")
        sent += error is None
    return sent


def _show_failure(
    session: Session, row: OutboxMessage, now: datetime, recipients: list[str], reason: str
) -> None:
    text = (
        f"Our {row.kind} mail to {', '.join(recipients)} could not be delivered "
        f"after {row.attempts} attempt(s): {reason}"
    )
    data = {"outbox_id": row.id, "recipients": recipients, "error": reason}
    session.execute(
        insert(Event),
        {"ticket_id": row.ticket_id, "kind": "delivery.failed", "data": data, "created_at": now},
    )
    session.execute(
        insert(Article),
        {
            "ticket_id": row.ticket_id,
            "kind": ArticleKind.INTERNAL_NOTE,
            "message_id": None,
            "sha256": None,
            "sender": row.sender,
            "subject": "delivery failed",
            "text": text,
            "thread_key": "delivery",
            "thread_note": f"outbox message {row.id}",
            "intake_id": None,
            "created_at": now,
        },
    )


def deliver_due(
    store: Store, settings: OutboundSettings, transport: Transport, clock: Clock, limit: int = 100
) -> int:
    """Deliver the outbox mail that is due; return how many were sent."""
    now = clock.now()
    due = (OutboxMessage.status == OutboxStatus.PENDING) & (
        OutboxMessage.next_attempt_at.is_(None) | (OutboxMessage.next_attempt_at <= now)
    )
    with store.reading() as session:  # most calls find nothing: ask without the write lock
        if session.scalar(select(OutboxMessage.id).where(due).limit(1)) is None:
            return 0
    with store.transaction() as session:
        query = select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)
        batch = lease(session.scalars(query.with_for_update(skip_locked=True)), now, transport)
    if not batch:
        return 0
    results = transport.send(batch)
    with store.transaction() as session:
        return record_results(session, results, clock.now(), settings)


def _mark(
    row: OutboxMessage, error: Exception | None, now: datetime, settings: OutboundSettings
) -> bool:
    """Write the outcome of one attempt; return True if the mail failed for good."""
    if error is None:
        row.status = OutboxStatus.SENT
        row.sent_at = now
        row.next_attempt_at = None
        row.last_error = None
        return False
    row.last_error = str(error)[:4000]
    too_old = now - row.created_at >= timedelta(hours=settings.max_age_hours)
    if isinstance(error, PermanentFailure) or row.attempts >= settings.max_attempts or too_old:
        row.status = OutboxStatus.FAILED
        row.next_attempt_at = None
        log.warning("outbox.failed", extra={"outbox_id": row.id, "error": row.last_error})
        return True
    row.next_attempt_at = now + backoff(row.attempts)
    log.info("outbox.retry", extra={"outbox_id": row.id, "error": row.last_error})
    return False
