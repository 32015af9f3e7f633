"""Outlook's Thread-Index for our mails, so Outlook files them in the requester's conversation.

Outlook and Exchange group a conversation by its Thread-Index (MAPI
PidTagConversationIndex, [MS-OXOMSG] 2.2.1.3), not by References: a 22-byte
header shared by every mail of the conversation, then one 5-byte child block
per reply. Headers come in two shapes, and a base taken from a requester's
mail may be either:

* modern (Exchange 2013+, Exchange Online, OWA, Graph; what we write): the
  reserved byte 0x01, FILETIME >> 24 in 5 bytes big-endian, a 16-byte GUID;
* classic (desktop Outlook up to 2019): FILETIME >> 16 in bytes 0-5 (its first
  byte is 0x01 for dates from 1829 to 2057, doubling as the reserved byte),
  then the GUID.

Byte 1 tells them apart: modern headers have 1 to 3 there for dates from 1829
to 2513; a classic header with those values would date from 1829 to 1831.

A child block is 1 bit delta code (DC), 31 bits of time difference and one
"random" byte. The difference, in FILETIME ticks (100 ns), is taken against
bytes 0-5 read as a classic header, whatever the shape: that is what Microsoft's
encoders do. We checked it on a reply block Exchange wrote under a modern header
(`AQHWLRNo4NaOjvXU8EODe0ZotrA8B6itzaxf`, in the tests): it decodes to the
reply's time only that way, with DC = 1 and the 31 bits wrapped. DC is 0 when
bits 49-55 of the difference are clear ([MS-OXOMSG]: "high part AND 0x00FE0000")
and the 31 bits are then the difference without its low 18 bits; otherwise DC
is 1 and they drop the low 23 bits. Higher bits are cut off (mod 2^31), as
Exchange does; `index_times` undoes the wrap by taking the first time at or
after the header's.

The random byte (MAPI fills it from GetTickCount) is derived here from the
base and the time, so the same inputs give the same index. A base whose time
is later than `now` (a requester's clock ahead of ours) is not an error: the
child is dated at the base's time. Pure: no clock, no randomness.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_HEADER_BYTES = 22
_CHILD_BYTES = 5
_MAX_TICKS = (1 << 64) - 1
_WORD = 0x7FFFFFFF
_HEADER_PRECISION = 1 << 24  # ticks the modern header drops (1.7 s)


def conversation_base(seed: str, started: datetime) -> str:
    """The 22-byte header for a conversation we start, base64 (modern shape).

    The GUID is the first 16 bytes of sha256(seed), so every mail of one
    ticket (seed: its ref) names the same conversation without storing it.
    """
    guid = hashlib.sha256(seed.encode("utf-8")).digest()[:16]
    header = b"\x01" + (_ticks(started) >> 24).to_bytes(5, "big") + guid
    return base64.b64encode(header).decode("ascii")


def child_index(base: str, now: datetime) -> str:
    """`base` (a 22-byte header, base64) with one child block for `now`, base64.

    Raises ValueError only when `base` is not base64 of exactly 22 bytes.
    """
    header = _decode(base)
    if len(header) != _HEADER_BYTES:
        raise ValueError(f"a conversation base has {_HEADER_BYTES} bytes, not {len(header)}")
    ticks = max(_ticks(now), _header_ticks(header))
    delta = max(0, ticks - _reference_ticks(header))
    short = (delta >> 49) & 0x7F == 0
    word = (delta >> 18) & _WORD if short else (1 << 31) | ((delta >> 23) & _WORD)
    noise = hashlib.sha256(header + ticks.to_bytes(8, "big")).digest()[0]
    return base64.b64encode(header + word.to_bytes(4, "big") + bytes([noise])).decode("ascii")


def index_times(index: str) -> tuple[datetime, ...]:
    """The header's time, then each child block's, for reading and tests.

    As precise as the format: the header to 1.7 s (modern) or 6.6 ms
    (classic), a child to 26 ms (DC 0) or 0.84 s (DC 1). Raises ValueError on
    anything that is not a Thread-Index.
    """
    raw = _decode(index)
    if len(raw) < _HEADER_BYTES or (len(raw) - _HEADER_BYTES) % _CHILD_BYTES:
        raise ValueError("a Thread-Index is 22 bytes plus 5 bytes a reply")
    header = raw[:_HEADER_BYTES]
    start, reference = _header_ticks(header), _reference_ticks(header)
    times = [_time(start)]
    for offset in range(_HEADER_BYTES, len(raw), _CHILD_BYTES):
        word = int.from_bytes(raw[offset : offset + 4], "big")
        shift = 23 if word >> 31 else 18
        period = 1 << (31 + shift)
        ticks = reference + ((word & _WORD) << shift)
        earliest = start - _HEADER_PRECISION
        if ticks < earliest:  # unwrap: the first such time at or after the header's
            ticks += -(-(earliest - ticks) // period) * period
        times.append(_time(ticks))
    return tuple(times)


def _decode(value: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not base64: {value[:40]!r}") from error


def _header_ticks(header: bytes) -> int:
    """The time the header says, in either shape."""
    if header[0] == 0x01 and 0x01 <= header[1] <= 0x03:
        return int.from_bytes(header[1:6], "big") << 24
    return _reference_ticks(header)


def _reference_ticks(header: bytes) -> int:
    """Bytes 0-5 read as a classic header: what child blocks are counted from."""
    return int.from_bytes(header[0:6], "big") << 16


def _ticks(moment: datetime) -> int:
    """FILETIME: 100 ns ticks since 1601-01-01 UTC, clamped to 64 bits."""
    delta = moment - _EPOCH  # a naive datetime raises TypeError here, as it should
    ticks = (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    return min(max(ticks, 0), _MAX_TICKS)


def _time(ticks: int) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)
