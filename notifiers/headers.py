"""Outbound mail written only from checked values: no header injection, loop markers set.

Anything that came from a mail (subject, addresses, Message-IDs) is checked or
cleaned here before it becomes a header we write. The mail is serialised by
hand rather than through `EmailMessage.as_bytes()`: every value is already
checked, so the only work left is RFC 2047 for a non-ASCII subject and
quoted-printable for the body, and the generic generator cost ~2 ms a mail,
more than parsing the mail we answer.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.utils import format_datetime

from mailbridge import __version__

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*", re.ASCII)
_MSGID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
MAX_SUBJECT = 200
LOOP_HEADER = "X-Mailbridge-Loop"
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def clean_subject(subject: str) -> str:
    """A subject safe to write: control characters and line breaks gone, length capped."""
    text = " ".join(_CONTROL.sub(" ", subject).split())
    return text[:MAX_SUBJECT]


def checked_address(address: str) -> str | None:
    """The address if it is a plain ASCII addr-spec we can write as is; None otherwise.

    Dot-atom local part and a host name (RFC 5321 section 4.1.2): stricter than
    RFC 5322 (no quoted local parts, no address literals), so nothing that is
    ever written into a header can carry syntax of its own.
    """
    return address if len(address) <= 254 and _ADDR_SPEC.fullmatch(address) else None


def checked_message_ids(values: tuple[str, ...] | list[str]) -> list[str]:
    return [v for v in values if _MSGID.fullmatch(v)]


def _encoded_subject(subject: str) -> str:
    text = clean_subject(subject)
    if text.isascii():
        return text
    return Header(text, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep="\r\n")


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
) -> bytes:
    """The whole mail as bytes with CRLF line endings, ready for a relay or a Maildir.

    `sender`, `recipient` and `message_id` must come from checked_address /
    our own id source; anything else is cleaned or dropped here.
    """
    headers = [
        ("From", sender),
        ("To", recipient),
        ("Subject", _encoded_subject(subject)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
    ]
    parents = checked_message_ids([in_reply_to] if in_reply_to else [])
    if parents:
        headers.append(("In-Reply-To", parents[0]))
    chain = checked_message_ids(references)[-20:]
    if chain:
        headers.append(("References", "\r\n ".join(chain)))  # folded: one id a line
    if automatic:
        headers.append(("Auto-Submitted", "auto-replied"))
        # Exchange and Outlook: do not send an out-of-office back to this.
        headers.append(("X-Auto-Response-Suppress", "All"))
    headers += [
        (LOOP_HEADER, clean_subject(loop_marker)),
        ("X-Mailer", f"mailbridge {__version__}"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    for name, value in headers:
        if "\n" in value.replace("\r\n ", "") or "\r" in value.replace("\r\n ", ""):
            raise ValueError(f"header {name} would break the header block")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    body = _UTF8_QP.body_encode(text.replace("\r\n", "\n")) or ""
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode("ascii")
