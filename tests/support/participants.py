"""Scripted participants of a conversation: people and autoresponders writing mail.

Each writes the way its client does: Outlook answers `AW: …` with In-Reply-To
and a Thread-Index, an old client keeps only References, a phone keeps only
the subject, a relay keeps only the reply address. The mails are bytes, sent
over real SMTP by the test; nothing here knows mailbridge's internals.
"""

from __future__ import annotations

import itertools
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

_counter = itertools.count(1)


def compose(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    cc: Sequence[str] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
    message_id: str | None = None,
) -> tuple[str, bytes]:
    """A mail as bytes and its Message-ID."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    if cc:
        mail["Cc"] = ", ".join(cc)
    mail["Subject"] = subject
    mail["Date"] = formatdate()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "client.example"
    message_id = message_id or f"<scripted.{next(_counter)}@{domain}>"
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = " ".join(references)
    for name, value in headers:
        mail[name] = value
    mail.set_content(body)
    return message_id, mail.as_bytes()


def send(port: int, sender: str, recipients: Sequence[str], raw: bytes) -> None:
    """Hand one mail to the daemon over SMTP; fail the test unless every recipient is taken."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        refused = client.sendmail(parseaddr(sender)[1] or sender, list(recipients), raw)
    assert refused == {}, refused


def outlook_reply(
    *, sender: str, to: str, original_subject: str, parent: str, body: str
) -> tuple[str, bytes]:
    """Outlook in German: `AW:` prefix, In-Reply-To only, a Thread-Index of its own."""
    return compose(
        sender=sender,
        to=[to],
        subject=f"AW: {original_subject}",
        body=f"{body}\n\n-----Ursprüngliche Nachricht-----\nVon: {to}\n",
        in_reply_to=parent,
        headers=[("Thread-Index", "AdnEtYJ1dL2hH5GZT0KqXGWkYVx0Yg=="), ("Thread-Topic", "x")],
    )


def out_of_office(*, sender: str, to: str, subject: str, parent: str | None) -> tuple[str, bytes]:
    """An RFC 3834 out-of-office answer, as Exchange or Gmail write it."""
    return compose(
        sender=sender,
        to=[to],
        subject=f"Automatic reply: {subject}",
        body="I am out of the office until Monday.",
        in_reply_to=parent,
        headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
    )
