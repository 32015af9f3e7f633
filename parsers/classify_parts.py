"""Bounded reading of a mail's MIME parts for the classifier and the bounce reader.

Both only need the first parts of a mail and the start (or end) of one text part;
reading more would let a 1000-part or 25 MB mail cost more than its verdict is worth.
Uses only the Message API that compat32 and policy-based messages share.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message

from parsers import html
from parsers.charsets import decode

PART_LIMIT = 64  # a report's structure is in its first parts
# What reading a header of a Message may raise (a policy-based message parses
# values on access); the classifier and the bounce reader treat the header as absent.
HEADER_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError)
_ATTACHED_MAIL = ("message/rfc822", "message/global")


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

    `limit` bytes from its start (or end) are decoded as the body is (parsers.charsets)
    and HTML rendered as text; enough to read a report or a footer, never a whole body.
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
        text = decode(window, part.get_content_charset()).text
        if content_type == "text/html":
            text = html.to_text(text)
        if text.strip():
            found = text
            if first:
                break
    return found
