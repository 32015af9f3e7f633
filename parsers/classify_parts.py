"""Bounded reading of a mail's MIME parts for the classifier and the bounce reader.

Both only need the first parts of a mail and the start (or end) of one text part;
reading more would let a 1000-part or 25 MB mail cost more than its verdict is worth.
Uses only the Message API that compat32 and policy-based messages share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from html import unescape

PART_LIMIT = 64  # a report's structure is in its first parts
_ATTACHED_MAIL = ("message/rfc822", "message/global")
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")


def parts(message: Message) -> Iterator[tuple[Message, bool]]:
    """The first parts in tree order, each with whether it sits inside an attached mail."""
    attached: set[int] = set()
    for count, part in enumerate(message.walk()):
        if count >= PART_LIMIT:
            return
        yield part, id(part) in attached
        if part is not message and part.get_content_type() in _ATTACHED_MAIL:
            for inner, _ in zip(part.walk(), range(PART_LIMIT), strict=False):
                if inner is not part:
                    attached.add(id(inner))


def leaf_text(message: Message, *, first: bool, limit: int) -> str:
    """Rough text of the first (or last) readable part outside attached mails.

    `limit` bytes from its start (or end) are decoded with the part's charset and
    stripped of HTML tags; enough to read a report or a footer, never a whole body.
    """
    found = ""
    for part, attached in parts(message):
        if attached or part.is_multipart():
            continue
        # A multipart with a broken boundary arrives as one opaque leaf: read it too.
        content_type = part.get_content_type()
        if not content_type.startswith(("text/", "multipart/")):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        window = payload[:limit] if first else payload[-limit:]
        text = _decode(window, part.get_content_charset())
        if content_type == "text/html":
            text = unescape(_HTML_TAG.sub("", _HTML_BREAK.sub("\n", text)))
        if text.strip():
            found = text
            if first:
                break
    return found


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "latin-1", "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("latin-1")
