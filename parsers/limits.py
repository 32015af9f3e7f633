"""How much of a mail we read, and the cut made before the stdlib parser sees it.

Nothing in a mail is trusted, its size and shape included. The standard
library's parser recurses once per MIME level (about 900 levels exhaust the
interpreter) and builds one object per part, so the bytes are bounded *before*
it runs: the mail cut at `max_size`, the header section at `max_header_bytes`,
containers nested deeper than `max_depth` neutralised (their `boundary`
parameter, or `message/` type, renamed so the parser reads them as one leaf),
and the tree cut after `max_parts` parts with its open multiparts closed.
Each cut is reported as a defect naming its limit; the walk enforces depth and
part count again on what the parser built, so the scan may be approximate but
never the only guard.

The scan runs only when cheap counts say it could matter (more boundary or
message declarations than `max_depth`, more `--` lines than `max_parts`),
counted in a lower-cased copy so that no spelling of "boundary" dodges them: a
typical mail pays for one `bytes.lower` and a few `bytes.count` calls. A
boundary is found however RFC 2045 and RFC 2231 let it be written: any case,
folded around its `=`, extended (`boundary*=us-ascii''b`) or in continuations
(`boundary*0="b"; boundary*1="c"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one mail may cost. The defaults fit 25 MiB SMTP mail with room for the
    headers that relays and IMAP servers add."""

    max_size: int = 26 * MIB
    max_depth: int = 20
    max_parts: int = 500
    max_header_bytes: int = 256 * KIB
    max_html_bytes: int = 1 * MIB  # HTML sanitised and converted to text, per mail
    max_text_bytes: int = 1 * MIB  # plain body text kept, per mail

    def __post_init__(self) -> None:
        for name in (
            "max_size",
            "max_depth",
            "max_parts",
            "max_header_bytes",
            "max_html_bytes",
            "max_text_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")


DEFAULT_LIMITS = Limits()

# The end of a header section: the one pattern every module that looks for it uses.
HEADER_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\n\r\n")
# Searched in a lower-cased copy: patterns that start with a literal are scanned
# at memchr speed, a case-insensitive alternation would be 40 times slower.
# Group 1: the RFC 2231 suffix ("*", "*0", "*0*"); 2 or 3: the value.
_SPACE = rb"[ \t\r\n]{0,40}"  # folding may put a line break around the "="
_VALUE = rb'(?:"([^"\r\n]{0,200})"|([^\s;"]{1,200}))'
_BOUNDARY = re.compile(rb"boundary(\*0?\*?)?" + _SPACE + b"=" + _SPACE + _VALUE)
_CONTINUATION = re.compile(
    _SPACE + b";" + _SPACE + rb"boundary\*[1-9][0-9]{0,2}(\*?)" + _SPACE + b"=" + _SPACE + _VALUE
)
_MESSAGE = re.compile(rb"content-type:[ \t]*message/")
_NEUTRAL = {b"boundary": b"x-nested", b"content-type": b"x-deep-type"}


@dataclass(frozen=True, slots=True)
class Bounded:
    raw: bytes
    defects: tuple[str, ...]


def bound(raw: bytes, limits: Limits) -> Bounded:
    """The bytes the parser may read, and what was cut to get them."""
    defects: list[str] = []
    if len(raw) > limits.max_size:
        defects.append(
            f"max_size: the mail is {len(raw)} bytes; only the first {limits.max_size} were read"
        )
        raw = raw[: limits.max_size]
    raw = _bound_header(raw, limits, defects)
    lower = raw.lower()
    if _may_be_too_deep_or_wide(lower, limits):
        raw = _bound_structure(raw, lower, limits, defects)
    return Bounded(raw, tuple(defects))


def force_structure_bound(raw: bytes, limits: Limits) -> Bounded:
    """The structural cut without the cheap gate: for when the parser still recursed
    too deep (nesting declared where the scan does not look)."""
    defects: list[str] = []
    return Bounded(_bound_structure(raw, raw.lower(), limits, defects), tuple(defects))


def _bound_header(raw: bytes, limits: Limits, defects: list[str]) -> bytes:
    end = HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    if end is not None or len(raw) <= limits.max_header_bytes:
        return raw
    cut = max(raw.rfind(b"\n", 0, limits.max_header_bytes), 0)
    rest = HEADER_END.search(raw, limits.max_header_bytes)
    body = raw[rest.start() :] if rest is not None else b"\n\n"
    defects.append(
        f"max_header_bytes: the header section is over {limits.max_header_bytes} bytes; "
        "the rest of it was dropped"
    )
    return raw[:cut] + body


def _may_be_too_deep_or_wide(lower: bytes, limits: Limits) -> bool:
    declarations = lower.count(b"boundary") + lower.count(b"message/")
    delimiters = lower.count(b"\n--") + lower.count(b"\r--")
    return declarations > limits.max_depth or delimiters > limits.max_parts


def _bound_structure(raw: bytes, lower: bytes, limits: Limits, defects: list[str]) -> bytes:
    """Follow declarations and delimiters in document order, keeping a stack of open
    containers: neutralise those that would open deeper than max_depth, and stop
    the mail at the delimiter that would start part max_parts + 1."""
    cap = limits.max_depth
    events, continued = _events(lower)
    stack: list[bytes | None] = []  # boundary of an open multipart, or None for message/*
    neutralise: list[int] = []  # offsets of declarations to rename
    parts = 1
    cut_at: int | None = None
    for offset, kind, value in events:
        if kind == "delimiter":
            closing = value.endswith(b"--") and value not in stack
            boundary = value[:-2] if closing else value
            if boundary not in stack:
                continue
            while stack[-1] != boundary:
                stack.pop()
            if closing:
                stack.pop()
                continue
            parts += 1
            if parts > limits.max_parts:
                cut_at = offset
                break
        elif len(stack) >= cap:
            neutralise += [offset, *continued.get(offset, ())]
        else:
            stack.append(value if kind == "boundary" else None)
    if neutralise:
        defects.append(
            f"max_depth: MIME nesting deeper than {cap} levels; the deeper parts were read as one"
        )
    if cut_at is not None:
        defects.append(f"max_parts: more than {limits.max_parts} MIME parts; the rest was not read")
    if not neutralise and cut_at is None:
        return raw
    pieces: list[bytes] = []
    position = 0
    for start in sorted(neutralise):
        if cut_at is not None and start >= cut_at:
            break
        word = b"boundary" if lower.startswith(b"boundary", start) else b"content-type"
        pieces += [raw[position:start], _NEUTRAL[word]]
        position = start + len(word)
    if cut_at is None:
        pieces.append(raw[position:])
    else:
        pieces.append(raw[position:cut_at])
        # Close what is open so the parser sees a complete tree, not a broken one.
        pieces += [b"\n--" + b + b"--\n" for b in reversed(stack) if b is not None]
    return b"".join(pieces)


def structure_events(lower: bytes) -> list[tuple[int, str, bytes]]:
    """(offset, kind, value) of every container declaration and of every line that
    starts with a declared boundary, in document order (all lower-cased)."""
    return _events(lower)[0]


def _events(lower: bytes) -> tuple[list[tuple[int, str, bytes]], dict[int, list[int]]]:
    """The structure events, and the offsets of the RFC 2231 continuations
    (`boundary*1=`...) of each declaration that has them."""
    events: list[tuple[int, str, bytes]] = []
    continued: dict[int, list[int]] = {}
    for match in _BOUNDARY.finditer(lower):
        suffix = match.group(1) or b""
        extended = suffix.endswith(b"*")
        value = match.group(2) if match.group(2) is not None else match.group(3)
        value = _parameter_value(value, extended=extended, prefixed=extended)
        end = match.end()
        while suffix.startswith(b"*0") and (more := _CONTINUATION.match(lower, end)):
            part = more.group(2) if more.group(2) is not None else more.group(3)
            value += _parameter_value(part, extended=more.group(1) == b"*", prefixed=False)
            continued.setdefault(match.start(), []).append(lower.index(b"boundary", more.start()))
            end = more.end()
        if value:
            events.append((match.start(), "boundary", value))
    events += [(m.start(), "message", b"") for m in _MESSAGE.finditer(lower)]
    boundaries = sorted({value for _, kind, value in events if kind == "boundary"}, key=len)
    if boundaries:
        alternatives = b"|".join(re.escape(b) for b in reversed(boundaries))
        delimiter = re.compile(b"--((?:" + alternatives + rb")(?:--)?)[ \t]*(?=[\r\n]|\Z)")
        events += [
            (m.start(), "delimiter", m.group(1))
            for m in delimiter.finditer(lower)
            if m.start() == 0 or lower[m.start() - 1] in b"\r\n"
        ]
    events.sort()
    return events, continued


def _parameter_value(value: bytes, *, extended: bool, prefixed: bool) -> bytes:
    """A parameter value as the stdlib reads it: an extended one (`*=`, `*0*=`,
    `*1*=`) %-decoded, the first without its `charset'language'` prefix."""
    if not extended:
        return value
    if prefixed and value.count(b"'") >= 2:
        value = value.split(b"'", 2)[2]
    return unquote_to_bytes(value).lower()  # the scan reads a lower-cased copy
