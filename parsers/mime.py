"""The MIME tree walked once: text parts decoded, attachments listed.

Uses the standard library's compat32 parser, which reads the same structure
several times cheaper than policy.default (DESIGN.md: parsing is the CPU
ceiling). Charset work is limited to the parts we show.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from email.message import Message

from parsers.headers import decode_text
from parsers.model import Attachment

MAX_DEPTH = 30
MAX_PARTS = 1000

_TAG = re.compile(r"<[^>]*>")
_BLOCK = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


@dataclass(slots=True)
class Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    parts: int = 0


def walk(message: Message) -> Walk:
    """Collect text and attachments from the tree, bounded in depth and part count."""
    result = Walk()
    _visit(message, 0, result)
    return result


def _visit(part: Message, depth: int, result: Walk) -> None:
    result.parts += 1
    if result.parts > MAX_PARTS:
        if result.parts == MAX_PARTS + 1:
            result.defects.append(f"more than {MAX_PARTS} MIME parts; the rest was not read")
        return
    if depth > MAX_DEPTH:
        result.defects.append(f"MIME nesting deeper than {MAX_DEPTH}; the rest was not read")
        return
    for defect in part.defects:
        result.defects.append(type(defect).__name__)
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for child in payload:
                if isinstance(child, Message):
                    _visit(child, depth + 1, result)
        return
    content_type = part.get_content_type()
    disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    filename = _filename(part)
    if filename is None and disposition != "attachment":
        if content_type == "text/plain":
            result.plain.append(_text_of(part, result))
            return
        if content_type == "text/html":
            result.html.append(_text_of(part, result))
            return
    body = part.get_payload(decode=True)
    size = len(body) if isinstance(body, bytes) else 0
    cid = part.get("Content-ID")
    result.attachments.append(
        Attachment(
            filename=filename,
            content_type=content_type,
            size=size,
            content_id=str(cid).strip() if cid else None,
            inline=disposition == "inline" or (disposition == "" and cid is not None),
        )
    )


def _filename(part: Message) -> str | None:
    # Both parameters that can name a file contain "name"; most parts have
    # neither, and the stdlib's parameter parsing is a tenth of a parse.
    declared = (part.get("Content-Disposition"), part.get("Content-Type"))
    if not any("name" in str(value).lower() for value in declared if value is not None):
        return None
    name = part.get_filename() or part.get_param("name")
    if name is None:
        return None
    if isinstance(name, tuple):  # RFC 2231 value not collapsed by the parser
        name = name[2]
    return decode_text(name) or None


def _text_of(part: Message, result: Walk) -> str:
    # NUL is never text, and PostgreSQL refuses it in text columns.
    return _decode_body(part, result).replace("\x00", "")


def _decode_body(part: Message, result: Walk) -> str:
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return ""
    charset = (part.get_content_charset() or "").lower()
    for candidate in (charset, "utf-8") if charset else ("utf-8",):
        try:
            return body.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    result.defects.append(f"text not decodable as {charset or 'utf-8'}; read as windows-1252")
    return body.decode("windows-1252", errors="replace")


def html_to_text(markup: str) -> str:
    """A readable rendering of HTML for mails that have no text part."""
    markup = _HIDDEN.sub("", markup)
    markup = _BLOCK.sub("\n", markup)
    text = html_lib.unescape(_TAG.sub("", markup))
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()
