"""Outbound mail written only from checked values: no header injection, loop markers set.

Anything that came from a mail (subject, addresses, Message-IDs, a requester's
Thread-Index) is checked or cleaned here before it becomes a header we write;
a value that would still carry syntax of its own makes `build_message` raise
rather than write it. The mail is serialised by hand rather than through
`EmailMessage.as_bytes()`: every value is already checked, so the only work
left is RFC 2047 for non-ASCII words and quoted-printable for the bodies, and
the generic generator cost ~2 ms a mail, more than parsing the mail we answer.
This module does not decide what to send or to whom; `outbox.py` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.utils import format_datetime
from typing import Literal

from mailbridge import __version__

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*", re.ASCII)
_MSGID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
# A display name written bare: atoms and single spaces only (RFC 5322 phrase),
# and no "=?" that a reader could take for an encoded word.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}", re.ASCII)
MAX_SUBJECT = 200
MAX_DISPLAY_NAME = 100
_ENCODED_NAME_BYTES = 45
LOOP_HEADER = "X-Mailbridge-Loop"
_THREAD_INDEX_BYTES = (22, 22 + 5 * 100)  # header block, then at most 100 reply levels
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMail:
    """Everything one outbound mail says; `build_message` turns it into bytes.

    Addresses must be `checked_address` results and `message_id` one of ours;
    text values are cleaned on the way out, and optional headers whose value
    is not well formed are left out (see `build_message`).
    """

    sender: str  # From addr-spec, a checked_address() result
    sender_name: str | None = None  # From's display name, see clean_display_name()
    to: tuple[str, ...]  # checked addresses, at least one
    cc: tuple[str, ...] = ()
    reply_to: str | None = None  # checked, e.g. helpdesk+INC-1001.abc123@example.org
    subject: str  # cleaned: clean_subject()
    message_id: str  # ours: "<...@domain>"
    date: datetime
    text: str
    html: str | None = None  # given: multipart/alternative, text/plain first
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()  # the last 20 well-formed ids are written
    thread_topic: str | None = None  # Outlook's Thread-Topic, cleaned like a subject
    thread_index: str | None = None  # Outlook's Thread-Index: base64 of >= 22 bytes
    language: str | None = None  # Content-Language: en, de, pt-BR
    auto_submitted: Literal["auto-replied", "auto-generated"] | None = None  # RFC 3834
    loop_marker: str  # the LOOP_HEADER value, always written


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


def clean_display_name(name: str | None) -> str | None:
    """The display name as readers will see it, or None when nothing is left.

    Control characters and runs of whitespace become one space and the name is
    capped at MAX_DISPLAY_NAME characters. Words that must be RFC 2047 encoded
    (not ASCII, or holding "=?") go into one encoded word per run of such words,
    which holds 45 bytes of UTF-8: a longer run is cut there, and so is the name.
    """
    display = _display(name)
    return display[0] if display else None


def _display(name: str | None) -> tuple[str, str] | None:
    """(the name as readers will see it, the name as we write it), or None."""
    if name is None:
        return None
    text = " ".join(_CONTROL.sub(" ", name).split())[:MAX_DISPLAY_NAME]
    if not text:
        return None
    # Adjacent encoded words must be one: RFC 2047 readers drop the space between
    # two encoded words and Python's address parser keeps it, so "Jörg Müller"
    # split in two would read differently in one of them. Between an encoded word
    # and an atom or a quoted string, both keep the space.
    runs: list[tuple[bool, list[str]]] = []
    for word in text.split(" "):
        encode = not word.isascii() or "=?" in word
        if runs and runs[-1][0] == encode:
            runs[-1][1].append(word)
        else:
            runs.append((encode, [word]))
    shown: list[str] = []
    written: list[str] = []
    for encode, words in runs:
        run = " ".join(words)
        if not encode:
            shown.append(run)
            written.append(run if _PLAIN_PHRASE.fullmatch(run) else _quoted(run))
            continue
        fitted = _fit_encoded_word(run)
        if fitted:
            shown.append(fitted)
            encoded = base64.b64encode(fitted.encode("utf-8")).decode("ascii")
            written.append(f"=?utf-8?b?{encoded}?=")
        if fitted != run:
            break
    return (" ".join(shown), " ".join(written)) if shown else None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fit_encoded_word(text: str) -> str:
    """The longest start of `text` whose UTF-8 fits one base64 encoded word
    (75 characters, RFC 2047 section 2: 45 bytes)."""
    size = 0
    for end, char in enumerate(text):
        size += len(char.encode("utf-8"))
        if size > _ENCODED_NAME_BYTES:
            return text[:end].rstrip()
    return text


def checked_thread_index(value: str | None) -> str | None:
    """Outlook's Thread-Index if it is base64 of a 22-byte header plus reply blocks."""
    if not value:
        return None
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    low, high = _THREAD_INDEX_BYTES
    return base64.b64encode(raw).decode("ascii") if low <= len(raw) <= high else None


def checked_language(value: str | None) -> str | None:
    """A Content-Language value shaped like a BCP 47 tag (en, de, pt-BR), else None."""
    return value if value and _LANGUAGE_TAG.fullmatch(value) else None


def _encoded_words(text: str, header_name: str) -> str:
    return Header(text, "utf-8", maxlinelen=76, header_name=header_name).encode(linesep="\r\n")


def _unstructured(value: str, header_name: str) -> str:
    """A cleaned one-line value; RFC 2047 when it is not ASCII or could be misread as
    encoded words (a literal "=?...?=" in a subject would otherwise decode)."""
    text = clean_subject(value)
    if text.isascii() and "=?" not in text:
        return text
    return _encoded_words(text, header_name)


def _mailbox(address: str, name: str | None) -> str:
    display = _display(name)
    return f"{display[1]} <{address}>" if display else address


def _checked(address: str, field: str) -> str:
    if checked_address(address) is None:
        raise ValueError(f"{field} {address!r} is not a plain addr-spec (use checked_address)")
    return address


def _address_list(addresses: tuple[str, ...], field: str) -> str:
    return ",\r\n ".join(_checked(address, field) for address in addresses)


def _qp(text: str) -> str:
    """Quoted-printable with CRLF line ends; bare CR and LF are line breaks too."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return (_UTF8_QP.body_encode(lines) or "").replace("\n", "\r\n")


def _boundary(message_id: str) -> str:
    # Quoted-printable writes "=" only as "=XX" (two upper-case hex digits) or as
    # the soft line break "=" at the end of a line, so "=_" never occurs in a QP
    # body and no body line can look like "--=_...": the boundary is safe by
    # construction, whatever the text. Derived from the Message-ID (unique) so the
    # same mail always gives the same bytes.
    return "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


def build_message(mail: OutboundMail) -> bytes:
    """The whole mail as bytes with CRLF line endings, ready for a relay or a Maildir.

    Raises ValueError for an address that is not a plain addr-spec, for no
    recipient at all, and for any header value that would break the header
    block. In-Reply-To, References (the last 20), Thread-Index and
    Content-Language are written only when well formed, else left out.
    """
    if not mail.to:
        raise ValueError("a mail needs at least one To address")
    headers = [("From", _mailbox(_checked(mail.sender, "From"), mail.sender_name))]
    headers.append(("To", _address_list(mail.to, "To")))
    if mail.cc:
        headers.append(("Cc", _address_list(mail.cc, "Cc")))
    if mail.reply_to is not None:
        headers.append(("Reply-To", _checked(mail.reply_to, "Reply-To")))
    if not _MSGID.fullmatch(mail.message_id):
        raise ValueError(f"Message-ID {mail.message_id!r} is not <left@right>")
    headers += [
        ("Subject", _unstructured(mail.subject, "Subject")),
        ("Date", format_datetime(mail.date)),
        ("Message-ID", mail.message_id),
    ]
    parents = checked_message_ids([mail.in_reply_to] if mail.in_reply_to else [])
    if parents:
        headers.append(("In-Reply-To", parents[0]))
    chain = checked_message_ids(mail.references)[-20:]
    if chain:
        headers.append(("References", "\r\n ".join(chain)))  # folded: one id a line
    if mail.thread_topic is not None and clean_subject(mail.thread_topic):
        headers.append(("Thread-Topic", _unstructured(mail.thread_topic, "Thread-Topic")))
    if (thread_index := checked_thread_index(mail.thread_index)) is not None:
        headers.append(("Thread-Index", thread_index))
    if (language := checked_language(mail.language)) is not None:
        headers.append(("Content-Language", language))
    if mail.auto_submitted is not None:
        headers.append(("Auto-Submitted", mail.auto_submitted))
        # Exchange and Outlook: do not send an out-of-office back to this.
        headers.append(("X-Auto-Response-Suppress", "All"))
    headers += [
        (LOOP_HEADER, _unstructured(mail.loop_marker, LOOP_HEADER)),
        ("X-Mailer", f"mailbridge {__version__}"),
        ("MIME-Version", "1.0"),
    ]
    text_part = [
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    if mail.html is None:
        headers += text_part
        body = _qp(mail.text)
    else:
        boundary = _boundary(mail.message_id)
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        html_part = [
            ("Content-Type", 'text/html; charset="utf-8"'),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ]
        body = (
            f"--{boundary}\r\n{_head(text_part)}\r\n{_qp(mail.text)}\r\n"
            f"--{boundary}\r\n{_head(html_part)}\r\n{_qp(mail.html)}\r\n"
            f"--{boundary}--\r\n"
        )
    for name, value in headers:
        unfolded = value.replace("\r\n ", "")
        if "\n" in unfolded or "\r" in unfolded or not value.isascii():
            raise ValueError(f"header {name} would break the header block")
    return (_head(headers) + "\r\n" + body).encode("ascii")


def _head(headers: list[tuple[str, str]]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers)
