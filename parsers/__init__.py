"""Pure mail parsing: raw bytes in, a frozen ParsedMail out.

No I/O, no database, no clock, nothing from `mailbridge`: everything
downstream trusts what this says, and tests read it on the real-world corpus.
"""

from __future__ import annotations

import email
import re
from email import policy
from email.message import Message

from parsers import mime
from parsers.bounces import bounced_recipients
from parsers.classify import classify
from parsers.errors import Unparseable
from parsers.headers import addresses, decode_text, first_message_id, message_ids, single_address
from parsers.model import Attachment, Classification, ParsedMail
from parsers.visible import visible_text

__all__ = ["Attachment", "Classification", "ParsedMail", "Unparseable", "parse"]

# Headers a mail has; input with none of them is not a mail.
_MAIL_HEADERS = ("from", "sender", "to", "subject", "message-id", "date", "received", "return-path")
_TAG = re.compile(r"\[([A-Z][A-Z0-9]{1,9}-\d{1,12})\]")


def parse(raw: bytes) -> ParsedMail:
    """Read one mail. Never raises on a broken mail; raises Unparseable on non-mail."""
    try:
        return _parse(raw)
    except RecursionError:
        # The stdlib parser recurses per MIME level; a crafted mail can nest deeper
        # than the interpreter allows before our own depth limit is reached.
        raise Unparseable("MIME structure nested too deep to read") from None


def _parse(raw: bytes) -> ParsedMail:
    if not raw.strip():
        raise Unparseable("empty input: there is no mail to read")
    message = email.message_from_bytes(raw, policy=policy.compat32)
    defects: list[str] = []
    if not _looks_like_mail(message):
        # RFC 5322 section 4.5 obsolete syntax allows space before the colon
        # ("Subject  : hi"); the stdlib parser does not, so retry once with it closed up.
        message = email.message_from_bytes(_close_obsolete_colons(raw), policy=policy.compat32)
        if not _looks_like_mail(message):
            raise Unparseable("no mail header (From, To, Subject, Message-ID, Date...) found")
        defects.append("obsolete header syntax: space before the colon")
    sender, sender_name = single_address(message, "From")
    walked = mime.walk(message)
    if walked.plain:
        full_text = "\n".join(walked.plain)
    elif walked.html:
        full_text = mime.html_to_text("\n".join(walked.html))
    else:
        full_text = ""
    subject = decode_text(message.get("Subject"))
    classification, reason = classify(message, sender=sender, subject=subject, text=full_text)
    defects += walked.defects
    if sender is None:
        defects.append("no usable From address")
    return ParsedMail(
        message_id=first_message_id(message.get("Message-ID")),
        in_reply_to=first_message_id(message.get("In-Reply-To")),
        references=message_ids(message.get("References")),
        subject=subject,
        sender=sender,
        sender_name=sender_name,
        reply_to=addresses(message, "Reply-To"),
        to=addresses(message, "To"),
        cc=addresses(message, "Cc"),
        date=_iso_date(message.get("Date")),
        language=None,
        text=visible_text(full_text),
        full_text=full_text,
        html=None,
        attachments=tuple(walked.attachments),
        classification=classification,
        classification_reason=reason,
        bounced_recipients=(
            bounced_recipients(message) if classification is Classification.BOUNCE else ()
        ),
        thread_keys=tuple(_TAG.findall(subject)),
        defects=tuple(dict.fromkeys(defects)),
    )


def _looks_like_mail(message: Message) -> bool:
    return any(key.lower() in _MAIL_HEADERS for key in message)


_OBS_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)


def _close_obsolete_colons(raw: bytes) -> bytes:
    match = re.search(rb"\r?\n\r?\n", raw)
    end = match.start() if match else len(raw)
    return _OBS_COLON.sub(rb"\1:", raw[:end]) + raw[end:]


def _iso_date(value: object) -> str | None:
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.isoformat()
