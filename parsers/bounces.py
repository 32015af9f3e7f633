"""Who a bounce says could not be reached.

Three sources, most reliable first; the first that names anyone wins:

1. RFC 3464 delivery-status blocks (message/delivery-status parts, also inside
   an attached report): the recipients of blocks whose Action is "failed" (or
   the non-standard "expired"); when none failed, those "delayed", since a
   warning is still the only report this recipient's problem will get. Each
   recipient is its Original-Recipient when that is an RFC 822 address (the
   address the sender used, before forwarding or aliasing), else its
   Final-Recipient. A block without Action falls back to its Status class.
2. X-Failed-Recipients, which Exim and others add to their plain-text bounces.
3. The human-readable report of non-standard bounces (qmail, Postfix, Exim,
   sendmail, Exchange, Domino, GroupWise, Yahoo, AOL...), see bounce_text.py.

Addresses come back as written, once each (compared case-insensitively), in
the order the report names them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from email.message import Message

from parsers.bounce_text import ADDRESS, report_recipients
from parsers.classify_parts import HEADER_ERRORS, PART_LIMIT

_BLOCK_LIMIT = 500  # recipients per report; more is an attack, not a bounce
_FAILED_ACTIONS = frozenset({"failed", "failure", "expired"})
_DELAYED_ACTIONS = frozenset({"delayed", "delay"})
_FIELD_CHARS = 4096  # of a header value; a 1 MB header must not cost 1 MB of regex
_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_FIELDS = ("action", "status", "original-recipient", "final-recipient")
_ACTION_WORD = re.compile(r"\s*([a-z]+)")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_FOLD = re.compile(r"\r?\n[ \t]+")
_FIELD_LINE = re.compile(r"^([A-Za-z-]+)[ \t]*:[ \t]*(.*?)\r?$", re.MULTILINE)
_SOURCE_ROUTE = re.compile(r"^@[^:]*:")
_DELAY_SUBJECT = re.compile(
    r"delay|warning|not yet (been )?delivered|verz(ö|oe)ger|retard|ritard|retras", re.IGNORECASE
)


def bounced_recipients(message: Message) -> tuple[str, ...]:
    """The addresses this delivery failure report names as failed, in order, once each."""
    failed, delayed = _dsn_outcomes(message)
    found = failed or delayed or _failed_recipients_header(message)
    return _unique(found or report_recipients(message))


def only_delayed(message: Message, subject: str) -> bool:
    """Whether this report only warns of a delay (the mail may still arrive): its
    delivery-status names no failed recipient but delayed ones, or, without one,
    its subject says so ("Delivery delayed", "Warning: message … delayed")."""
    failed, delayed = _dsn_outcomes(message)
    if failed or delayed:
        return not failed
    return _DELAY_SUBJECT.search(subject) is not None


def _unique(addresses: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return tuple(seen.values())


def _dsn_outcomes(message: Message) -> tuple[list[str], list[str]]:
    """(failed, delayed) recipients of the report's delivery-status blocks."""
    failed: list[str] = []
    delayed: list[str] = []
    for count, part in enumerate(message.walk()):
        if count >= PART_LIMIT:
            break
        if part.get_content_type() not in _DSN_TYPES:
            continue
        for fields in itertools.islice(_blocks(part), _BLOCK_LIMIT):
            recipient = _recipient(fields)
            outcome = _outcome(fields) if recipient else ""
            if outcome == "failed":
                failed.append(recipient)
            elif outcome == "delayed":
                delayed.append(recipient)
    return failed, delayed


def _blocks(part: Message) -> Iterator[dict[str, str]]:
    """The field blocks of a delivery-status part, with the fields we read.

    The stdlib parser splits message/delivery-status into one Message per block.
    message/global-delivery-status (RFC 6533) it reads like message/rfc822: the
    first block becomes the headers of a message whose body holds the others."""
    if not part.is_multipart():
        yield from _text_blocks(part.get_payload(decode=True))
        return
    for index, block in enumerate(part.walk()):
        if index:  # index 0 is the part itself
            yield {name: _field(block, name) for name in _FIELDS}
            if not block.is_multipart():
                yield from _text_blocks(block.get_payload(decode=True))


def _text_blocks(payload: object) -> Iterator[dict[str, str]]:
    if not isinstance(payload, bytes):
        return
    text = payload[: _BLOCK_LIMIT * _FIELD_CHARS].decode("utf-8", "replace")
    for chunk in _BLANK_LINE.split(text):
        pairs = _FIELD_LINE.findall(_FOLD.sub(" ", chunk))
        found = {name.lower(): value for name, value in pairs}
        yield {name: " ".join(found.get(name, "")[:_FIELD_CHARS].split()) for name in _FIELDS}


def _outcome(fields: dict[str, str]) -> str:
    # The first word: MTAs add comments ("failed (Bad destination mailbox address)").
    word = _ACTION_WORD.match(fields["action"].lower())
    action = word.group(1) if word else ""
    if action in _FAILED_ACTIONS:
        return "failed"
    if action in _DELAYED_ACTIONS:
        return "delayed"
    if not action:
        return {"5": "failed", "4": "delayed"}.get(fields["status"][:1], "")
    return ""


def _recipient(fields: dict[str, str]) -> str:
    original = _typed_address(fields["original-recipient"])
    return original or _typed_address(fields["final-recipient"]) or ""


def _typed_address(value: str) -> str | None:
    """The address of an RFC 3464 "address-type; address" field, if it is RFC 822."""
    kind, semicolon, address = value.partition(";")
    if not semicolon:
        kind, address = "rfc822", kind
    if kind.strip().lower() not in ("rfc822", "utf-8", ""):
        return None
    address = _SOURCE_ROUTE.sub("", address.strip().strip("<>").strip())
    match = ADDRESS.fullmatch(address)
    return match.group(0) if match else None


def _field(block: Message, name: str) -> str:
    """A field of a block as one line of text; "" when absent or unreadable."""
    try:
        value = block.get(name)
    except HEADER_ERRORS:
        return ""
    return "" if value is None else " ".join(str(value)[:_FIELD_CHARS].split())


def _failed_recipients_header(message: Message) -> list[str]:
    try:
        values = message.get_all("X-Failed-Recipients") or []
    except HEADER_ERRORS:
        return []
    return [
        match.group(0)
        for value in values[:_BLOCK_LIMIT]
        for match in ADDRESS.finditer(str(value)[:_FIELD_CHARS])
    ]
