"""Header values decoded into clean text: RFC 2047 words, folded lines, odd charsets.

Decoding never raises; a word in an unknown charset is kept with replacement
characters and reported as a defect by the caller.
"""

from __future__ import annotations

import re
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

_SPACE = re.compile(r"\s+")
# Printable ASCII only (NUL or controls would break storage and headers we write);
# longer ones do not fit an RFC 5322 line.
_MSGID = re.compile(r"<[!-;=?-~]{1,996}>")


def decode_text(value: object) -> str:
    """Decode an RFC 2047 header value to text with whitespace runs collapsed."""
    return _decode_text(value).replace("\x00", "")


def header_text(value: object) -> str:
    """The header as text, 8-bit bytes included.

    compat32 hands headers carrying raw 8-bit bytes (SMTPUTF8 mail, careless
    clients) back as `Header(unknown-8bit)`, whose str() turns every such byte
    into U+FFFD; decode those bytes as UTF-8 (windows-1252 if that fails) instead.
    """
    if isinstance(value, Header):
        return "".join(
            _bytes_to_text(chunk, charset) if isinstance(chunk, bytes) else chunk
            for chunk, charset in decode_header(value)
        )
    return "" if value is None else str(value)


def _decode_text(value: object) -> str:
    if value is None:
        return ""
    raw = header_text(value)
    try:
        parts = decode_header(raw)
    except (ValueError, LookupError, AssertionError):  # malformed encoded words
        return _SPACE.sub(" ", raw).strip()
    try:
        # make_header re-inserts the spaces RFC 2047 wants between encoded and plain words.
        return _SPACE.sub(" ", str(make_header(parts))).strip()
    except (LookupError, UnicodeDecodeError):
        pass  # an unknown or lying charset: decode word by word below
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(_bytes_to_text(chunk, charset))
        else:
            out.append(chunk)
    # decode_header keeps the whitespace between encoded words when there is
    # plain text beside them, which is what RFC 2047 asks for.
    return _SPACE.sub(" ", "".join(out)).strip()


def _bytes_to_text(chunk: bytes, charset: str | None) -> str:
    name = (charset or "ascii").lower()
    if name in {"unknown-8bit", "x-unknown"}:
        name = "utf-8"
    try:
        return chunk.decode(name)
    except (LookupError, UnicodeDecodeError):
        try:
            return chunk.decode("utf-8")
        except UnicodeDecodeError:
            return chunk.decode("windows-1252", errors="replace")


def addresses(message: Message, name: str) -> tuple[str, ...]:
    """Every addr-spec in all headers of this name, lower-cased domain kept as written."""
    values = [header_text(v) for v in message.get_all(name, [])]
    found = []
    for _display, address in getaddresses(values):
        address = address.strip()
        if _plausible(address):
            found.append(address)
    return tuple(found)


def single_address(message: Message, name: str) -> tuple[str | None, str | None]:
    """(address, display name) of a single-address header such as From."""
    value = message.get(name)
    if value is None:
        return None, None
    display, address = parseaddr(header_text(value))
    address = address.strip()
    if not _plausible(address):
        return None, decode_text(display) or None
    return address, decode_text(display) or None


def _plausible(address: str) -> bool:
    """An addr-spec we can store and, later, write to: one @, no spaces or controls."""
    return (
        0 < address.find("@") < len(address) - 1
        and len(address) <= 320
        and address.isprintable()
        and not any(c.isspace() for c in address)
    )


def message_ids(value: object) -> tuple[str, ...]:
    """Message-IDs (with angle brackets) found in a header value, in order."""
    if value is None:
        return ()
    return tuple(_MSGID.findall(str(value)))


def first_message_id(value: object) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None
