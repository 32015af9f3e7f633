"""Pure mail parsing: raw bytes in, a frozen ParsedMail out.

No I/O, no database, no clock, nothing from `mailbridge`: everything
downstream trusts what this says, and tests read it on the real-world corpus.

Built on the standard `email` package's compat32 parser, not on mail-parser and
not on policy.default. mail-parser reads the same compat32 tree (it is quick:
~890 corpus mails/s here against ~650/s for the bare policy.default parse), but
then decodes every attachment and re-encodes it as base64 and builds JSON-ready
dicts of every header; and it hands the whole body to the parser, which splits
it into one str per line: a 25 MB mail costs it 7.7 times its size in memory
(the bound is 5) and 1.8 s. What we need and it lacks (charsets past the label,
sanitised HTML, TNEF, S/MIME, sizes without decoding, limits) would be a second
walk over the tree it already walked, and it logs through the logging module,
which `parsers` may not use. policy.default reads the same structure 6x slower
than compat32 (DESIGN.md). So we take compat32's tree and decode what we show
ourselves: headers in `parsers.headers`, charsets in `parsers.charsets`
(chardet), the tree in `parsers.mime`, HTML in `parsers.html` (nh3), TNEF in
`parsers.tnef`, S/MIME in `parsers.smime` (asn1crypto), size and shape limits in
`parsers.limits`, big attachment bodies cut before parsing in
`parsers.skeleton`. Measured: ~1,000 corpus mails/s (1.5x the policy.default
parse), ~1,300 typical mails/s (2.2x), a 25 MB mail in 0.5 s at 1.0x its
size in memory.
"""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import UTC
from email import policy
from email.message import Message

from parsers import html, mime
from parsers.bounce_origin import bounced_message_ids
from parsers.bounces import bounced_recipients, only_delayed
from parsers.classify import classify
from parsers.commands import (
    Command,
    CommandBlock,
    CommandError,
    explain_errors,
    parse_commands,
    usage,
)
from parsers.errors import Unparseable
from parsers.headers import (
    addresses,
    decode_text,
    first_message_id,
    header_text,
    message_ids,
    single_address,
)
from parsers.language import guess_language
from parsers.limits import DEFAULT_LIMITS, HEADER_END, Limits, bound, force_structure_bound
from parsers.model import Attachment, Classification, ParsedMail
from parsers.skeleton import elide
from parsers.text import one_line
from parsers.threadkeys import thread_keys
from parsers.verdicts import Verdict, parse_verdict
from parsers.visible import MAX_SCANNED_CHARS, visible_text

__all__ = [
    "DEFAULT_LIMITS",
    "Attachment",
    "Classification",
    "Command",
    "CommandBlock",
    "CommandError",
    "Limits",
    "ParsedMail",
    "Unparseable",
    "Verdict",
    "explain_errors",
    "parse",
    "parse_commands",
    "parse_verdict",
    "usage",
]

# Headers a mail has; input with none of them is not a mail.
LOOP_HEADER = "X-Mailbridge-Loop"
_MAIL_HEADERS = ("from", "sender", "to", "subject", "message-id", "date", "received", "return-path")
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*(?:,|$)")


def parse(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ParsedMail:
    """Read one mail. Never raises on a broken mail (its problems are `defects`);
    raises Unparseable only on bytes that are not a mail at all."""
    if not raw or raw.isspace():
        raise Unparseable("empty input: there is no mail to read")
    try:
        return _parse(raw, limits)
    except RecursionError:
        # Unreachable by design (limits.bound caps nesting first); kept so that
        # a gap there quarantines one mail instead of failing the batch.
        raise Unparseable("MIME structure nested too deep to read") from None


def _parse(raw: bytes, limits: Limits) -> ParsedMail:
    message, defects = _read(raw, limits)
    if not _looks_like_mail(message):
        # RFC 5322 section 4.5 obsolete syntax allows space before the colon
        # ("Subject  : hi"); the stdlib parser does not, so retry once with it closed up.
        message, defects = _read(_close_obsolete_colons(raw), limits)
        if not _looks_like_mail(message):
            raise Unparseable("no mail header (From, To, Subject, Message-ID, Date...) found")
        defects.append("obsolete header syntax: space before the colon")
    walked = mime.walk(message, limits)
    defects += walked.defects
    hint = walked.charset_hint
    full_text, markup, sanitised = _bodies(walked.slots)
    attachments = walked.attachments
    if markup is not None:
        if sanitised is None:
            defects.append("HTML nested too deep to sanitise in time; only its text was kept")
        shown = mime.referenced_cids(markup)
        attachments = [
            replace(a, inline=True) if a.content_id in shown and not a.inline else a
            for a in attachments
        ]
    sender, sender_name = single_address(message, "From", hint)
    subject = decode_text(message.get("Subject"), hint)
    classification, reason = classify(message, sender=sender, subject=subject, text=full_text)
    bounce = classification is Classification.BOUNCE
    if sender is None:
        defects.append("no usable From address")
    text = visible_text(full_text)
    if len(full_text) > MAX_SCANNED_CHARS:
        defects.append(
            f"visible text: only the first {MAX_SCANNED_CHARS} characters were searched for it"
        )
    date, date_defect = _iso_date(message.get("Date"))
    if date_defect is not None:
        defects.append(date_defect)
    return ParsedMail(
        message_id=first_message_id(message.get("Message-ID")),
        in_reply_to=first_message_id(message.get("In-Reply-To")),
        references=message_ids(message.get("References")),
        subject=subject,
        sender=sender,
        sender_name=sender_name,
        reply_to=addresses(message, "Reply-To", hint),
        to=addresses(message, "To", hint),
        cc=addresses(message, "Cc", hint),
        date=date,
        language=guess_language(text) or _declared_language(message),
        text=text,
        full_text=full_text,
        html=sanitised,
        attachments=tuple(attachments),
        classification=classification,
        classification_reason=reason,
        bounced_recipients=bounced_recipients(message) if bounce else (),
        bounced_message_ids=bounced_message_ids(message) if bounce else (),
        bounce_delayed=bounce and only_delayed(message, subject),
        thread_keys=thread_keys(message, subject),
        loop_markers=tuple(
            one_line(header_text(v), 200) for v in message.get_all(LOOP_HEADER, [])[:5]
        ),
        defects=tuple(dict.fromkeys(defects)),
    )


def _bodies(slots: list[mime.Slot]) -> tuple[str, str | None, str | None]:
    """(full text, the HTML as sent, the HTML sanitised) of the body slots: each slot
    read from its text/plain version, else from its HTML rendered as text."""
    texts: list[str] = []
    for slot in slots:
        if slot.plain:
            texts.append("\n".join(slot.plain))
        elif slot.html:
            markup = "\n".join(slot.html)
            texts.append(html.to_text(markup, costly=html.too_costly(markup)))
    full_text = "\n".join(text.strip("\n") for text in texts if text.strip())
    all_html = [part for slot in slots for part in slot.html]
    if not all_html:
        return full_text, None, None
    markup = "\n".join(all_html)
    return full_text, markup, html.sanitise(markup)


def _read(raw: bytes, limits: Limits) -> tuple[Message, list[str]]:
    """The stdlib's tree of the bounded bytes, and what bounding them cost."""
    bounded = bound(raw, limits)
    defects = list(bounded.defects)
    try:
        return email.message_from_bytes(elide(bounded.raw), policy=policy.compat32), defects
    except RecursionError:
        pass
    # A declaration the cheap gate did not count: cut by the full scan.
    forced = force_structure_bound(bounded.raw, limits)
    defects += forced.defects
    try:
        return email.message_from_bytes(elide(forced.raw), policy=policy.compat32), defects
    except RecursionError:
        pass
    # Nesting the scan could not see (folded Content-Type lines): read the header only.
    end = HEADER_END.search(bounded.raw)
    header = bounded.raw[: end.start()] if end else bounded.raw[: limits.max_header_bytes]
    defects.append(
        "max_depth: MIME nesting deeper than the parser can read; only the header was read"
    )
    return email.message_from_bytes(header + b"\n\n", policy=policy.compat32), defects


def _declared_language(message: Message) -> str | None:
    """The first language of Content-Language (the sender's client setting, often
    English whatever the text is: hence only when the text says nothing)."""
    value = str(message.get("Content-Language") or "")
    found = _LANGUAGE_TAG.match(value.strip())
    return found.group(1).lower() if found else None


def _looks_like_mail(message: Message) -> bool:
    return any(key.lower() in _MAIL_HEADERS for key in message)


_OBS_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)


def _close_obsolete_colons(raw: bytes) -> bytes:
    match = HEADER_END.search(raw)
    end = match.start() if match else len(raw)
    return _OBS_COLON.sub(rb"\1:", raw[:end]) + raw[end:]


def _iso_date(value: object) -> tuple[str | None, str | None]:
    """(the Date as an aware ISO 8601 string, the defect when it cannot be read).
    `-0000` (RFC 5322: the zone is unknown) is read as UTC."""
    if value is None:
        return None, None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, "unreadable Date header"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat(), None
