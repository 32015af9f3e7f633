"""Which of our mails a bounce reports on: the Message-IDs of the returned original.

Three sources, most reliable first; the first that names anything wins:

1. The header of an attached original: a message/rfc822 (or message/global)
   part's Message-ID, or the header block of a text/rfc822-headers (or
   message/rfc822-headers) part, inside a multipart/report or not. An attached
   mail that is itself a delivery report (a bounce forwarded by a list manager)
   is looked into, never taken; an original's own attachments are not looked at.
2. `Message-ID:` lines in the text of a plain-text report (qmail, Exim, Postfix
   without DSN) that quotes the returned message's header in its body; or the
   returned header standing as a part's own header (an MTA that writes it so,
   a boundary missing after a delivery-status part).
3. In-Reply-To, which some MTAs (Exchange NDRs) set to the original's
   Message-ID; most set none, and a report's References are never the original.

The bounce's own Message-ID is never returned. IDs come back as written, with
their angle brackets, once each, at most MAX_IDS of them. Everything is read
within bounds: PART_LIMIT parts, and a few dozen KiB of any body.
"""

from __future__ import annotations

import itertools
import re
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from parsers.classify_parts import HEADER_ERRORS, PART_LIMIT
from parsers.headers import MESSAGE_ID, first_message_id, header_text, message_ids

MAX_IDS = 5  # one report names one original, a batched one a few; more is noise
_BLOCK_BYTES = 64 * 1024  # of an attached header block; a header is rarely over 10 KiB
_TEXT_BYTES = 128 * 1024  # of report text, all parts together: the quote follows the report
_ATTACHED = frozenset(
    {
        "message/rfc822",
        "message/global",
        "message/rfc822-headers",
        "message/global-headers",
        "message/partial",  # Bigfoot's label for the returned mail
        "text/rfc822-headers",
    }
)
_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# A quoted header line in a plain-text report, on lines already ending in "\n";
# the value may be folded onto the next line.
_QUOTED_ID = re.compile(
    rb"^[ \t>]*message-id[ \t]*:[ \t]*(?:\n[ \t]+)?(" + MESSAGE_ID.pattern.encode() + rb")",
    re.IGNORECASE | re.MULTILINE,
)
_BLANK_LINE = re.compile(rb"\n[ \t]*\n")


def bounced_message_ids(message: Message) -> tuple[str, ...]:
    """The Message-IDs of the mail this delivery failure report returns, once each."""
    own = frozenset(_header_ids(message))
    leaves: list[Message] = []
    found = _kept(_attached_ids(message, own, leaves), own) or _kept(_quoted_ids(leaves), own)
    if found:
        return found
    try:
        reply_to = first_message_id(header_text(message.get("In-Reply-To")))
    except HEADER_ERRORS:
        return ()
    return _kept([reply_to] if reply_to else [], own)


def _kept(ids: list[str], own: frozenset[str]) -> tuple[str, ...]:
    unique = (mid for mid in dict.fromkeys(ids) if "@" in mid and mid not in own)
    return tuple(itertools.islice(unique, MAX_IDS))


def _header_ids(message: Message) -> list[str]:
    """Every Message-ID of this header, in order: an MTA that stored the original
    before returning it may have put its own Message-ID above the sender's."""
    try:
        values = message.get_all("Message-ID") or []
    except HEADER_ERRORS:
        return []
    return [mid for value in values[:MAX_IDS] for mid in message_ids(header_text(value))]


def _attached_ids(message: Message, own: frozenset[str], leaves: list[Message]) -> list[str]:
    """The IDs of attached originals, in tree order; the report's own leaves (outside
    attached originals) are added to `leaves` on the way, for _quoted_ids."""
    found: list[str] = []
    stack = [message]
    for _ in range(PART_LIMIT):  # parts read; MAX_IDS is _kept's, once duplicates are gone
        if not stack:
            break
        part = stack.pop()
        attached = part is not message and part.get_content_type() in _ATTACHED
        if not part.is_multipart():
            if attached:
                found += _block_ids(_head(part, _BLOCK_BYTES))
            else:
                leaves.append(part)
            continue
        payload = part.get_payload()
        if not isinstance(payload, list):
            continue
        if attached:
            inner = next((p for p in payload if isinstance(p, Message)), None)
            if inner is None:
                continue
            if not _is_report(inner, own):
                found += _original_ids(inner)
                continue
            payload = [inner]  # a forwarded report: its own attachment is the original
        stack += reversed([p for p in payload[:PART_LIMIT] if isinstance(p, Message)])
    return found


def _is_report(inner: Message, own: frozenset[str]) -> bool:
    """Whether an attached mail is a delivery report (the bounce itself, forwarded)."""
    payload = inner.get_payload()
    if isinstance(payload, list) and any(
        isinstance(p, Message) and p.get_content_type() in _DSN_TYPES for p in payload[:PART_LIMIT]
    ):
        return True
    ids = _header_ids(inner)
    return bool(ids) and own.issuperset(ids)


def _original_ids(inner: Message) -> list[str]:
    ids = _header_ids(inner)
    if ids or len(inner):
        return ids
    # No header at all: a blank line before the returned header (some MTAs write
    # one) made the parser read that header as the body.
    payload = inner.get_payload()
    if isinstance(payload, str):
        return _block_ids(payload[:_BLOCK_BYTES].encode("ascii", "replace"))
    return []


def _block_ids(data: bytes) -> list[str]:
    """The Message-IDs of a header block given as a body (text/rfc822-headers).
    A block that does not open with a header field (a sentence before it) reads as
    no header to the stdlib: its Message-ID lines are then looked for as quoted."""
    block = _lines(data[:_BLOCK_BYTES]).lstrip(b"\n")
    end = block.find(b"\n\n")
    header = BytesHeaderParser(policy=policy.compat32).parsebytes(
        block if end == -1 else block[: end + 1]
    )
    return _header_ids(header) or _first_block_ids(block)


def _quoted_ids(leaves: list[Message]) -> list[str]:
    """The returned header as the report's own leaves show it: `Message-ID:` lines in
    their plain text (also of a multipart whose boundary is broken, which arrives as
    one text), or a Message-ID in the header of a leaf (MTAs that write the returned
    header as a part's, or a delivery-status part that runs on into it for lack of a
    boundary). A leaf may be the report itself: its own IDs are dropped later."""
    found: list[str] = []
    budget = _TEXT_BYTES
    for part in leaves:
        found += _header_ids(part)
        content_type = part.get_content_type()
        if budget <= 0 or not (
            content_type == "text/plain" or content_type.startswith("multipart/")
        ):
            continue
        window = _head(part, budget)
        budget -= len(window)
        found += _first_block_ids(_lines(window))
    return found


def _first_block_ids(text: bytes) -> list[str]:
    """The Message-ID lines of the first quoted header block: those further down
    belong to mails quoted or forwarded inside the returned one."""
    first = _QUOTED_ID.search(text)
    if first is None:
        return []
    end = _BLANK_LINE.search(text, first.end())
    stop = end.start() if end else len(text)
    return [m.group(1).decode("ascii") for m in _QUOTED_ID.finditer(text, first.start(), stop)]


def _head(part: Message, size: int) -> bytes:
    """The first `size` bytes of a leaf's body, transfer encoding undone. Only a
    base64 or quoted-printable body is decoded whole first (as everywhere in the
    parser); the IDs we look for are ASCII, so other bytes may read as "?"."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    try:
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    except HEADER_ERRORS:
        encoding = ""
    if encoding in ("base64", "quoted-printable", "x-uuencode", "uuencode", "uue", "x-uue"):
        decoded = part.get_payload(decode=True)
        return decoded[:size] if isinstance(decoded, bytes) else b""
    return payload[:size].encode("ascii", "replace")


def _lines(data: bytes) -> bytes:
    """CRLF and (old Mac mail) CR line ends as LF."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
