"""Header values decoded into clean text: RFC 2047 words, folded lines, odd charsets.

Decoding never raises. Encoded words and raw 8-bit bytes go through
`parsers.charsets`, so a gb2312 word carrying GBK characters or an iso-8859-1
word carrying curly quotes reads as the sender saw it. Raw 8-bit header bytes
(SMTPUTF8 mail, careless clients) are read as UTF-8, else in the charset the
mail's body declares (`hint`: such clients write headers and body alike), else
detected.
"""

from __future__ import annotations

import binascii
import re
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from parsers.charsets import decode, decode_label
from parsers.text import one_line

# Printable ASCII only (NUL or controls would break storage and headers we write);
# longer ones do not fit an RFC 5322 line. parsers/peek.py reads Message-IDs with it too.
MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,996}>")
_UNKNOWN_8BIT = frozenset({"unknown-8bit", "x-unknown"})
# Of a header value decoded as text: a subject or file name needs far less, and
# a 1 MB header must not cost 1 MB of decoding.
_DECODED_CHARS = 8192
# email.header's pattern for an encoded word, except that the encoded text
# cannot contain "?" (RFC 2047 section 5): its ".*?" looks for "?=" to the end
# of the line from every "=?", which is quadratic on a line of unclosed words.
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?]*?)\?(?P<encoding>[qQbB])\?(?P<encoded>[^?]*)\?=", re.MULTILINE
)


def decode_text(value: object, hint: str | None = None, *, spaced: bool = True) -> str:
    """Decode an RFC 2047 header value to one line of text, whitespace runs collapsed,
    control and format characters (NUL, ESC, bidi overrides) dropped.

    `spaced`: put a space where an encoded word touches plain text, as email.header
    does for "Re:=?utf-8?...?="; file names ("report-=?utf-8?...?=.pdf") want none.
    """
    raw = header_text(value, hint)[:_DECODED_CHARS]
    if "=?" in raw:
        raw = _decode_words(raw, spaced)
    return one_line(raw, limit=_DECODED_CHARS)


def header_text(value: object, hint: str | None = None) -> str:
    """The header as text, raw 8-bit bytes included.

    compat32 hands headers carrying raw 8-bit bytes back as `Header(unknown-8bit)`,
    whose str() turns every such byte into U+FFFD; decode those bytes instead.
    """
    if isinstance(value, Header):
        return "".join(
            _raw_8bit(chunk, hint)
            if charset in _UNKNOWN_8BIT
            else (decode(chunk, charset).text if isinstance(chunk, bytes) else chunk)
            for chunk, charset in decode_header(value)
        )
    return "" if value is None else str(value)


def _raw_8bit(chunk: bytes, hint: str | None) -> str:
    # Valid UTF-8 is UTF-8 (SMTPUTF8 mail), even when the body declares another
    # charset: UTF-8 bytes often happen to be valid Shift_JIS or GBK too.
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return decode(chunk, hint).text


def _decode_words(raw: str, spaced: bool) -> str:
    """RFC 2047 as mail clients read it (and as email.header does, charsets aside).

    Adjacent words in one charset are joined as bytes before decoding, because
    senders split multi-byte characters across words; whitespace between two
    encoded words is dropped; a space is kept where a word meets plain text.
    """
    words: list[tuple[str | bytes, str | None]] = []  # (plain text, None) or (bytes, charset)
    for line in raw.splitlines() or [raw]:
        parts = _ENCODED_WORD.split(line)
        words.append((parts[0].lstrip(), None))
        for i in range(1, len(parts) - 3, 4):
            charset, encoding, encoded, plain = parts[i : i + 4]
            data = _word_bytes(encoded, encoding.lower())
            if data is None:  # undecodable: keep the word as written
                words.append((f"=?{charset}?{encoding}?{encoded}?=", None))
            else:
                words.append((data, charset.lower()))
            words.append((plain, None))
    merged: list[tuple[str | bytes, str | None]] = []
    between = _between_encoded(words)
    for index, (word, charset) in enumerate(words):
        if isinstance(word, str):
            if not word or (word.isspace() and between[index]):
                continue
            last = merged[-1][0] if merged else None
            if isinstance(last, str):  # plain text continued on the next line
                merged[-1] = (f"{last} {word.lstrip()}", None)
                continue
        else:
            last = merged[-1][0] if merged else None
            if isinstance(last, bytes) and merged[-1][1] == charset:
                merged[-1] = (last + word, charset)
                continue
        merged.append((word, charset))
    out: list[str] = []
    last_encoded: bool | None = None
    for word, charset in merged:
        text = decode_label(word, charset) if isinstance(word, bytes) else word
        encoded = charset not in (None, "us-ascii")
        # Where an encoded word meets plain text, RFC 2047 wants whitespace.
        meets = spaced and out and last_encoded is not None and encoded != last_encoded and text
        if meets and not (out[-1][-1:].isspace() or text[:1].isspace()):
            out.append(" ")
        out.append(text)
        last_encoded = encoded
    return "".join(out)


def _between_encoded(words: list[tuple[str | bytes, str | None]]) -> list[bool]:
    """For each word: is it between two encoded words (skipping empty ones)?

    One pass each way; looking around every word would be quadratic in a
    header of thousands of words."""
    encoded_before = []
    last = False
    for word, _charset in words:
        encoded_before.append(last)
        if word:
            last = isinstance(word, bytes)
    between = [False] * len(words)
    following = False
    for index in range(len(words) - 1, -1, -1):
        word = words[index][0]
        between[index] = encoded_before[index] and following
        if word:
            following = isinstance(word, bytes)
    return between


def _word_bytes(encoded: str, encoding: str) -> bytes | None:
    data = encoded.encode("utf-8", "surrogateescape")
    try:
        if encoding == "q":
            return binascii.a2b_qp(data, header=True)
        # Postel's law, as email.header: add missing padding.
        return binascii.a2b_base64(data + b"==="[: -len(data) % 4])
    except (binascii.Error, ValueError):
        return None


def addresses(message: Message, name: str, hint: str | None = None) -> tuple[str, ...]:
    """Every plausible addr-spec in all headers of this name, as written.

    A header the stdlib cannot read (a thousand nested comments make it recurse
    past Python's limit) names nobody; the others are still read."""
    try:
        values = [header_text(v, hint) for v in message.get_all(name, [])]
    except _ADDRESS_ERRORS:  # a policy-based message parses the header on access
        return ()
    try:
        pairs = getaddresses(values)
    except RecursionError:
        pairs = [pair for value in values for pair in _addresses_of(value)]
    found = []
    for _display, address in pairs:
        address = address.strip()
        if _plausible(address):
            found.append(address)
    return tuple(found)


# What the stdlib's address parser raises on hostile input besides returning nothing:
# RecursionError on nested comments, IndexError and ValueError on some stray "@"s.
_ADDRESS_ERRORS = (RecursionError, IndexError, ValueError)


def _addresses_of(value: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([value])
    except _ADDRESS_ERRORS:
        return []


def single_address(
    message: Message, name: str, hint: str | None = None
) -> tuple[str | None, str | None]:
    """(address, display name) of a single-address header such as From."""
    try:
        value = message.get(name)
    except _ADDRESS_ERRORS:  # a policy-based message parses the header on access
        return None, None
    if value is None:
        return None, None
    try:
        display, address = parseaddr(header_text(value, hint))
    except _ADDRESS_ERRORS:  # no usable address (the caller records the defect)
        return None, None
    address = address.strip()
    return (address if _plausible(address) else None), decode_text(display) or None


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
    return tuple(MESSAGE_ID.findall(str(value)))


def first_message_id(value: object) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None
