"""The mail with its big attachment bodies cut out before the stdlib parser reads it.

The stdlib parser splits a body into one str per line and joins them again:
a 25 MB base64 attachment costs about 8 times its size in memory and most of
the parse time, to produce a payload we only measure. So in a large mail
each big leaf body that is not text we show (and not TNEF or S/MIME, which we
unpack) is replaced by a one-line marker carrying its decoded and encoded
sizes, measured on the bytes with `bytes.count`, which copies nothing. The
parser then reads a skeleton of a few kilobytes; `mime` reads the sizes back
from the marker. A sender can forge a marker, which lets them lie about the
size of an attachment they sent: they could as well send another attachment.

Part bodies are found from the boundary delimiter lines `limits` already
locates; a body is cut only when its own header parses as a leaf type.
"""

from __future__ import annotations

import binascii
import email
import itertools
import re
from email import policy
from email.message import Message

from parsers.limits import HEADER_END, structure_events
from parsers.model import BODY_TYPES, TNEF_TYPES
from parsers.smime import PKCS7_TYPES

# Below this a mail is parsed as it is: the scan would cost more than it saves.
LARGE_MAIL = 256 * 1024
BIG_BODY = 64 * 1024
MARKER = b"mailbridge-elided-body"
_MARKER_TEXT = re.compile(r"\s*mailbridge-elided-body (\d{1,12}) (\d{1,12})\s*")
_KEEP_TYPES = BODY_TYPES | TNEF_TYPES | PKCS7_TYPES  # text we show, containers we unpack


def elide(raw: bytes) -> bytes:
    """The mail with big attachment bodies replaced by size markers."""
    if len(raw) < LARGE_MAIL:
        return raw
    events = structure_events(raw.lower())
    starts = [(offset, value) for offset, kind, value in events if kind == "delimiter"]
    boundaries = {value for _, kind, value in events if kind == "boundary"}
    spans: list[tuple[int, int]] = []
    if not starts:
        spans.append((0, len(raw)))  # a single-part mail: its body may be the attachment
    # The last part runs to the end when the closing delimiter is missing.
    for (offset, value), (next_offset, _) in itertools.pairwise([*starts, (len(raw), b"")]):
        closing = value.endswith(b"--") and value[:-2] in boundaries and value not in boundaries
        if not closing and next_offset - offset > BIG_BODY:
            line_end = raw.find(b"\n", offset)
            spans.append((line_end + 1 if line_end != -1 else next_offset, next_offset))
    pieces: list[bytes] = []
    position = 0
    for start, end in spans:
        cut = _body_to_cut(raw, start, end)
        if cut is None:
            continue
        body_start, marker = cut
        pieces += [raw[position:body_start], marker]
        position = end
    if not pieces:
        return raw
    pieces.append(raw[position:])
    return b"".join(pieces)


def elided_sizes(payload: str) -> tuple[int, int] | None:
    """(decoded, encoded) sizes from a marker payload; None for a real payload."""
    if len(payload) > 100 or "mailbridge-elided-body" not in payload:
        return None
    match = _MARKER_TEXT.fullmatch(payload)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _body_to_cut(raw: bytes, start: int, end: int) -> tuple[int, bytes] | None:
    """(where the body starts, the marker to put there) for a big leaf body, else None."""
    header_end = HEADER_END.search(raw, start, min(end, start + 512 * 1024))
    if header_end is None:
        return None
    header = email.message_from_bytes(raw[start : header_end.end()], policy=policy.compat32)
    content_type = header.get_content_type()
    name = _name(header)
    if header.get_content_maintype() in ("multipart", "message"):
        return None
    if content_type in _KEEP_TYPES and not (content_type.startswith("text/") and name):
        return None  # text we show, or a container we unpack
    if name.endswith(("winmail.dat", ".p7m", ".p7z")):
        return None
    encoding = str(header.get("Content-Transfer-Encoding", "")).strip().lower()
    body_start = header_end.end()
    # The line break before the next delimiter belongs to the delimiter.
    if raw[end - 2 : end] == b"\r\n":
        end -= 2
    elif raw[end - 1 : end] in (b"\n", b"\r"):
        end -= 1
    decoded = _decoded_size(raw, body_start, end, encoding)
    if decoded is None:
        return None
    line_break = b"\r\n" if raw[header_end.start() : header_end.start() + 1] == b"\r" else b"\n"
    marker = b"%s %d %d%s" % (MARKER, decoded, end - body_start, line_break)
    return body_start, marker


def _name(header: Message) -> str:
    value = header.get_filename() or header.get_param("name") or ""
    return str(value).strip().lower()


def _decoded_size(raw: bytes, start: int, end: int, encoding: str) -> int | None:
    if encoding == "base64":
        noise = sum(raw.count(c, start, end) for c in (b"\r", b"\n", b" ", b"\t", b"="))
        return (end - start - noise) * 3 // 4
    if encoding == "quoted-printable":
        return len(binascii.a2b_qp(raw[start:end]))
    if encoding in ("", "7bit", "8bit", "binary"):
        return end - start
    return None  # uuencode and the unknown: the parser reads them
