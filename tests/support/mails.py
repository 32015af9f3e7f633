"""Building test mails and reading what we sent: small helpers, no magic."""

from __future__ import annotations

import email
import smtplib
from email import policy
from email.message import Message
from pathlib import Path

from mailbridge.clock import SystemClock
from mailbridge.engine.intake import IncomingMail, receive
from mailbridge.store import Store


def compose(
    *,
    message_id: str,
    subject: str = "printer on fire",
    sender: str = "alice@example.org",
    to: str = "helpdesk@example.org",
    body: str = "help, the printer is on fire",
    headers: dict[str, str] | None = None,
) -> str:
    """A plain mail as text with LF line endings (smtplib turns them into CRLF)."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Message-ID: {message_id}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return "\n".join(lines) + "\n\n" + body + "\n"


def send(
    port: int,
    text: str,
    *,
    sender: str = "alice@example.org",
    recipients: tuple[str, ...] = ("helpdesk@example.org",),
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(sender, list(recipients), text)


def maildir_messages(root: str | Path) -> list[Message]:
    new = Path(root) / "new"
    if not new.is_dir():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(new.iterdir())
    ]


def receive_raw(store: Store, raw: bytes, *, adapter: str = "smtp") -> int:
    """Commit one mail for helpdesk@example.org as an adapter would; return its intake id."""
    mail = IncomingMail(
        raw=raw,
        envelope_sender="alice@example.org",
        envelope_recipients=("helpdesk@example.org",),
        adapter=adapter,
    )
    return receive(store, mail, SystemClock())
