"""Outbound headers built only from checked values: no header injection, loop markers set.

Anything that came from a mail (subject, addresses, Message-IDs) is checked or
cleaned here before it becomes a header we write.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailbridge import __version__

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MSGID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
MAX_SUBJECT = 200
LOOP_HEADER = "X-Mailbridge-Loop"


def clean_subject(subject: str) -> str:
    """A subject safe to write: control characters and line breaks gone, length capped."""
    text = " ".join(_CONTROL.sub(" ", subject).split())
    return text[:MAX_SUBJECT]


def checked_address(address: str) -> str | None:
    """The address if it is a plain, valid addr-spec; None otherwise."""
    if _CONTROL.search(address) or any(c in address for c in '<>,;"() '):
        return None
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return None
    return parsed.addr_spec if parsed.domain else None


def checked_message_ids(values: tuple[str, ...] | list[str]) -> list[str]:
    return [v for v in values if _MSGID.fullmatch(v)]


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    message_id: str,
    date: datetime,
    text: str,
    in_reply_to: str | None,
    references: list[str],
    loop_marker: str,
    automatic: bool,
) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = clean_subject(subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    parents = checked_message_ids([in_reply_to] if in_reply_to else [])
    if parents:
        message["In-Reply-To"] = parents[0]
    chain = checked_message_ids(references)[-20:]
    if chain:
        message["References"] = " ".join(chain)
    if automatic:
        message["Auto-Submitted"] = "auto-replied"
        # Exchange and Outlook: do not send an out-of-office back to this.
        message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = loop_marker
    message["X-Mailer"] = f"mailbridge {__version__}"
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    return message
