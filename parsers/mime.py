"""The MIME tree walked once: body text chosen and decoded, attachments listed.

Walks what the stdlib's compat32 parser built, which reads the same structure
several times cheaper than policy.default (DESIGN.md: parsing is the CPU
ceiling); the extra work happens only where a mail needs it: charset guessing
on text whose label fails, HTML conversion when a body has no text part,
TNEF and S/MIME unwrapping for those parts. Attachments are measured, never
decoded: a 25 MB attachment costs a few `str.count` calls.

The walk is iterative (no recursion to exhaust) and stops at `max_depth` and
`max_parts`, whatever the pre-parse cut in `parsers.limits` let through.

Body parts are grouped in slots: each multipart/alternative is one slot whose
text/plain and text/html versions are the same content; every other body part
is a slot of its own. A forwarded mail (message/rfc822) is an attachment: its
own attachments are listed after it, its text is not part of this mail's text.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field, replace
from email import policy
from email.header import Header
from email.message import Message

from parsers import smime
from parsers.charsets import decode, sniff_html_charset, text_codec
from parsers.headers import decode_text, header_text
from parsers.limits import Limits, bound
from parsers.model import BODY_TYPES, TNEF_TYPES, Attachment
from parsers.skeleton import elide, elided_sizes
from parsers.text import one_line
from parsers.tnef import read_tnef

_FORWARDED = frozenset({"message/rfc822", "message/global"})
# Opaque-signed S/MIME nested deeper than this is kept as an attachment: each level
# is parsed again, and no client signs a signed mail more than twice.
MAX_SMIME_LEVELS = 3
_CID = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_MAX_NAME = 255


@dataclass(slots=True)
class Slot:
    """One piece of body content, in the versions the sender gave it."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Walk:
    slots: list[Slot] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    charset_hint: str | None = None  # first legacy charset a text part declares
    parts: int = 0
    html_bytes: int = 0
    text_bytes: int = 0
    smime_bytes: int = 0  # S/MIME content unwrapped and parsed again


@dataclass(frozen=True, slots=True)
class _Context:
    attached: bool = False  # inside a forwarded mail: list attachments only
    slot: Slot | None = None  # inside a multipart/alternative: its shared slot
    smime_level: int = 0  # opaque-signed S/MIME parts this part is inside


def walk(message: Message, limits: Limits) -> Walk:
    """Collect body text and attachments from the tree, in tree order."""
    result = Walk()
    stack: list[tuple[Message, int, _Context]] = [(message, 0, _Context())]
    while stack:
        part, depth, context = stack.pop()
        result.parts += 1
        if result.parts > limits.max_parts:
            result.defects.append(
                f"max_parts: more than {limits.max_parts} MIME parts; the rest was not read"
            )
            break
        if depth > limits.max_depth:
            result.defects.append(
                f"max_depth: MIME nesting deeper than {limits.max_depth} levels; "
                "the deeper parts were not read"
            )
            continue
        result.defects += [type(defect).__name__ for defect in part.defects]
        children = _visit(part, depth, context, result, limits)
        stack += reversed(children)
    return result


def _visit(
    part: Message, depth: int, context: _Context, result: Walk, limits: Limits
) -> list[tuple[Message, int, _Context]]:
    """Record one part; return the children still to walk."""
    content_type = one_line(part.get_content_type())
    payload = _payload(part)
    if isinstance(payload, list):
        children = [child for child in payload if isinstance(child, Message)]
        if content_type in _FORWARDED:
            result.attachments.append(_forwarded(part, children, result))
            return [(child, depth + 1, replace(context, attached=True)) for child in children]
        if content_type.startswith("message/"):
            # message/delivery-status, partial, external-body: kept whole, not walked.
            result.attachments.append(_attachment(part, content_type, result, _encoded_size(part)))
            return []
        if content_type == "multipart/encrypted":
            result.defects.append("encrypted mail (multipart/encrypted): content not readable")
        if (
            content_type == "multipart/alternative"
            and not context.attached
            and context.slot is None
        ):
            slot = Slot()
            result.slots.append(slot)
            context = replace(context, slot=slot)
        return [(child, depth + 1, context) for child in children]
    filename = _filename(part, result.charset_hint)
    disposition = _disposition(part)
    if content_type in BODY_TYPES and filename is None and disposition != "attachment":
        if not context.attached:
            _add_body(part, content_type, context, result, limits)
        return []
    if content_type in TNEF_TYPES or (filename or "").lower() == "winmail.dat":
        if _add_tnef(part, result, limits):
            return []
    elif smime.is_pkcs7_mime(part, content_type, filename):
        inner = _signed_mail(part, result, limits, depth, context.smime_level)
        if inner is not None:
            return [(inner, depth + 1, replace(context, smime_level=context.smime_level + 1))]
    result.attachments.append(
        _attachment(part, content_type, result, _decoded_size(part), filename, disposition)
    )
    return []


def _add_body(
    part: Message, content_type: str, context: _Context, result: Walk, limits: Limits
) -> None:
    slot = context.slot
    if slot is None:
        slot = Slot()
        result.slots.append(slot)
    is_html = content_type == "text/html"
    text = _text_of(part, result, is_html)
    if is_html:
        text = _within(text, limits.max_html_bytes, result.html_bytes, "max_html_bytes", result)
        result.html_bytes += len(text)
        slot.html.append(text)
    else:
        text = _within(text, limits.max_text_bytes, result.text_bytes, "max_text_bytes", result)
        result.text_bytes += len(text)
        slot.plain.append(text)


def _within(text: str, limit: int, used: int, name: str, result: Walk) -> str:
    """`text` cut to what is left of a per-mail budget, with a defect naming the limit."""
    budget = limit - used
    if len(text) <= budget:
        return text
    result.defects.append(f"{name}: more than {limit} characters; the rest was not read")
    return text[: max(budget, 0)]


def _text_of(part: Message, result: Walk, is_html: bool) -> str:
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return ""
    label = part.get_content_charset()
    if label is None and is_html:
        label = sniff_html_charset(body)
    if label and result.charset_hint is None and label not in ("us-ascii", "utf-8"):
        result.charset_hint = label
    decoded = decode(body, label)
    if decoded.defect is not None:
        result.defects.append(decoded.defect)
    # NUL is never text, and PostgreSQL refuses it in text columns.
    text = decoded.text.replace("\x00", "")
    return text if is_html else text.replace("\r\n", "\n").replace("\r", "\n")


def _add_tnef(part: Message, result: Walk, limits: Limits) -> bool:
    """List the files inside a winmail.dat instead of it; False to list the
    winmail.dat itself (unreadable, or holding only a message body, which
    Outlook sends as RTF we do not render)."""
    data = part.get_payload(decode=True)
    files, defect = read_tnef(data if isinstance(data, bytes) else b"", limits.max_parts)
    if defect is not None:
        result.defects.append(defect)
    if not files:
        return False
    result.attachments += [
        Attachment(
            filename=_clean_name(found.filename),
            content_type=one_line(found.content_type),
            size=found.size,
            content_id=one_line(found.content_id or "") or None,
            inline=False,
        )
        for found in files
    ]
    return True


def _signed_mail(
    part: Message, result: Walk, limits: Limits, depth: int, level: int
) -> Message | None:
    """The mail inside an opaque-signed S/MIME part, parsed; None to keep the part as is.
    What all the S/MIME parts of a mail unwrap is read up to `max_size` in total."""
    if smime.is_encrypted(part):
        result.defects.append("encrypted mail (S/MIME enveloped-data): content not readable")
        return None
    if level >= MAX_SMIME_LEVELS:
        result.defects.append(
            f"S/MIME signed data nested more than {MAX_SMIME_LEVELS} levels deep; "
            "the inner one was kept as an attachment"
        )
        return None
    room_left = limits.max_size - result.smime_bytes
    if room_left < 1:
        result.defects.append("max_size: S/MIME content past the mail's size limit was not read")
        return None
    data = part.get_payload(decode=True)
    content = smime.signed_content(data) if isinstance(data, bytes) else None
    if content is None:
        result.defects.append("S/MIME part is not readable signed data; kept as an attachment")
        return None
    room = max(limits.max_depth - depth, 1)
    bounded = bound(content, replace(limits, max_depth=room, max_size=room_left))
    result.smime_bytes += len(bounded.raw)
    result.defects += bounded.defects
    try:
        return email.message_from_bytes(elide(bounded.raw), policy=policy.compat32)
    except RecursionError:
        result.defects.append("S/MIME content nested too deep to read; kept as an attachment")
        return None


def _forwarded(part: Message, children: list[Message], result: Walk) -> Attachment:
    filename = _filename(part, result.charset_hint)
    if filename is None:
        subject = decode_text(children[0].get("Subject"), result.charset_hint) if children else ""
        filename = _clean_name(f"{subject or 'forwarded message'}.eml")
    return _attachment(
        part, part.get_content_type(), result, _encoded_size(part), filename, _disposition(part)
    )


def _attachment(
    part: Message,
    content_type: str,
    result: Walk,
    size: int,
    filename: str | None = None,
    disposition: str = "",
) -> Attachment:
    cid = part.get("Content-ID")
    content_id = None
    if cid is not None:
        content_id = one_line(header_text(cid)).strip("<>").strip() or None
    return Attachment(
        filename=filename,
        content_type=one_line(content_type),
        size=size,
        content_id=content_id,
        inline=disposition == "inline" or (disposition == "" and content_id is not None),
    )


def referenced_cids(html: str) -> set[str]:
    """Content-IDs an HTML body shows inline (`<img src="cid:...">`)."""
    return {match.group(1).strip("<>") for match in _CID.finditer(html)}


def _disposition(part: Message) -> str:
    value = part.get("Content-Disposition")
    if value is None:
        return ""
    return header_text(value).split(";", 1)[0].strip().lower()


def _filename(part: Message, hint: str | None) -> str | None:
    """The part's file name: Content-Disposition filename, else Content-Type name,
    RFC 2231 (continuations, charset) and RFC 2047 decoded."""
    # Both parameters that can name a file contain "name"; most parts have
    # neither, and the stdlib's parameter parsing is a tenth of a parse.
    declared = (part.get("Content-Disposition"), part.get("Content-Type"))
    if not any(value is not None and "name" in str(value).lower() for value in declared):
        return None
    if any(isinstance(value, Header) for value in declared):
        part = _text_view(part, hint)  # raw 8-bit parameters: decode them first
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = part.get_param(param, None, header)
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded text)
            charset, _language, text = value
            name = _clean_name(decode(str(text).encode("latin-1", "replace"), charset or None).text)
        elif value is not None:
            name = _clean_name(decode_text(str(value), hint, spaced=False))
        else:
            continue
        if name is not None:
            return name
    return None


def _text_view(part: Message, hint: str | None) -> Message:
    """A copy of the part's Content-Type and Content-Disposition with 8-bit bytes decoded."""
    view = Message()
    for name in ("Content-Type", "Content-Disposition"):
        value = part.get(name)
        if value is not None:
            view[name] = header_text(value, hint)
    return view


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    return one_line(name, _MAX_NAME) or None


def _payload(part: Message) -> object:
    """The part's payload as parsed; None for a leaf compat32 cannot return undecoded.
    It decodes an 8-bit body with the declared charset even when not asked to, and
    raises on one it cannot name (RFC 2231 `charset*=`, a NUL, "undefined"), and a
    codec that is not a text encoding (unicode_escape) must never run at all."""
    if not part.is_multipart():
        charset = part.get_param("charset")
        if isinstance(charset, str) and text_codec(charset) is None:
            return None
    try:
        payload = part.get_payload()
    except (TypeError, ValueError, LookupError):
        return None
    return payload


def _decoded_length(part: Message) -> int:
    decoded = part.get_payload(decode=True)
    return len(decoded) if isinstance(decoded, bytes) else 0


def _decoded_size(part: Message) -> int:
    """The attachment's size once decoded, computed without decoding it."""
    payload = _payload(part)
    if payload is None:
        return _decoded_length(part)  # the rare 8-bit body in a charset we cannot name
    if not isinstance(payload, str):
        return 0
    elided = elided_sizes(payload)
    if elided is not None:
        return elided[0]
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        # Every 4 base64 characters are 3 bytes; whitespace and padding are not data.
        data = len(payload) - sum(payload.count(c) for c in "\r\n \t=")
        return data * 3 // 4
    if encoding in ("quoted-printable", "x-uuencode", "uuencode", "x-uue", "uue"):
        return _decoded_length(part)  # rare for large files; exact size
    return len(payload)  # 7bit, 8bit, binary: one character per byte


def _encoded_size(message: Message) -> int:
    """Bytes of a forwarded mail as it travels (headers and encoded bodies), summed
    over its tree without serialising it."""
    total = 0
    stack = [message]
    seen = 0
    while stack and seen < 10_000:
        current = stack.pop()
        seen += 1
        total += sum(len(name) + len(str(value)) + 4 for name, value in current.raw_items())
        payload = _payload(current)
        if payload is None:
            total += _decoded_length(current)
        elif isinstance(payload, str):
            elided = elided_sizes(payload)
            total += len(payload) if elided is None else elided[1]
        elif isinstance(payload, list):
            stack += [child for child in payload if isinstance(child, Message)][:1000]
    return total
