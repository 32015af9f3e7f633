"""Mail traffic for end-to-end tests: build mails, send them over real SMTP, read the Maildir.

Senders record exactly which mails got a 250, because that is the promise the
daemon makes (DESIGN.md rule 1): a 250 means the mail is kept. Anything else —
a 4xx, a dropped connection, a reply that never came — means the client must
assume it is not, as a real MTA would.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

SMTP_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail as a client sends it: envelope and the exact bytes."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    raw: bytes


def new_mail(n: int, *, to: str, batch: str = "e2e", subject: str = "") -> Mail:
    """A new human mail, distinct per `n`, from its own sender.

    One sender per mail keeps each acknowledgement legitimate even once replies
    are rate-limited per sender (DESIGN.md rule 2).
    """
    sender = f"user{n}@example.org"
    message_id = f"<{batch}.{n}@client.example.org>"
    text = (
        f"From: User {n} <{sender}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject or f'problem number {n}'}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"My machine number {n} does not start.\r\n"
    )
    return Mail(sender, (to,), message_id, text.encode("ascii"))


@dataclass(slots=True)
class SendLog:
    """What every client saw: mails with a 250, and what went wrong for the others."""

    accepted: list[Mail] = field(default_factory=list)
    failures: list[tuple[Mail, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, mail: Mail) -> int:
        with self.lock:
            self.accepted.append(mail)
            return len(self.accepted)

    def fail(self, mail: Mail, reason: str) -> None:
        with self.lock:
            self.failures.append((mail, reason))

    @property
    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m in self.accepted]


def send_over_one_connection(
    port: int,
    mails: Sequence[Mail],
    log: SendLog,
    *,
    start: threading.Barrier | None = None,
    on_accepted: Callable[[int], None] = lambda _count: None,
    timeout: float = SMTP_TIMEOUT,
) -> None:
    """Send `mails` in order over one SMTP session, as one MTA queue runner would.

    A mail counts as accepted only if sendmail returned without error and
    refused no recipient. The first failure ends this client: after a dropped
    connection nothing more can be sent on it, and a client that stops at its
    first error keeps the record of what was accepted exact.
    """
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as error:
        if mails:
            log.fail(mails[0], f"connect: {error!r}")
        return
    try:
        if start is not None:
            start.wait(timeout)
        for mail in mails:
            try:
                refused = client.sendmail(mail.sender, list(mail.recipients), mail.raw)
            except (OSError, smtplib.SMTPException) as error:
                log.fail(mail, repr(error))
                return
            if refused:
                log.fail(mail, f"refused recipients: {refused!r}")
                return
            on_accepted(log.accept(mail))
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def send_concurrently(
    port: int,
    batches: Sequence[Sequence[Mail]],
    *,
    on_accepted: Callable[[int], None] = lambda _count: None,
    timeout: float = SMTP_TIMEOUT,
) -> SendLog:
    """One thread and one SMTP connection per batch, all starting together; wait for all."""
    log = SendLog()
    start = threading.Barrier(len(batches))
    with ThreadPoolExecutor(max_workers=len(batches), thread_name_prefix="smtp-client") as pool:
        futures = [
            pool.submit(
                send_over_one_connection,
                port,
                batch,
                log,
                start=start,
                on_accepted=on_accepted,
                timeout=timeout,
            )
            for batch in batches
        ]
        for future in futures:
            future.result()
    return log


@dataclass(frozen=True, slots=True)
class DeliveredMail:
    path: Path
    message: EmailMessage

    def header(self, name: str) -> str:
        value = self.message[name]
        return "" if value is None else str(value)


def maildir_new(root: Path) -> list[DeliveredMail]:
    """Every mail delivered to the Maildir at `root` (its new/ folder), parsed."""
    new = root / "new"
    if not new.is_dir():
        return []
    parser = BytesParser(policy=policy.default)
    found = []
    for path in sorted(new.iterdir()):
        message = parser.parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        found.append(DeliveredMail(path, message))
    return found


def count_maildir_new(root: Path) -> int:
    new = root / "new"
    return sum(1 for _ in new.iterdir()) if new.is_dir() else 0
