"""ParsedMail: what the parser says about a mail, frozen, with plain values only."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

# Content types the parser reads rather than lists as attachments: the body text
# (parsers.mime) and Outlook's winmail.dat (parsers.tnef). S/MIME's are in parsers.smime.
BODY_TYPES = frozenset({"text/plain", "text/html"})
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


class Classification(enum.StrEnum):
    HUMAN = "human"
    AUTO_REPLY = "auto-reply"
    BULK = "bulk"
    BOUNCE = "bounce"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedMail:
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender: str | None
    sender_name: str | None
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: str | None
    language: str | None
    text: str
    full_text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    classification: Classification
    classification_reason: str
    bounced_recipients: tuple[str, ...]
    # Of the mail a bounce returns (parsers.bounce_origin); a default, so that
    # values built before the field existed still construct (kw_only allows it here).
    bounced_message_ids: tuple[str, ...] = ()
    # A bounce that only warns of a delay: its recipients may still get the mail.
    bounce_delayed: bool = False
    thread_keys: tuple[str, ...]
    # X-Mailbridge-Loop values: a help desk's mark on mail it wrote (the engine
    # never answers mail carrying its own).
    loop_markers: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON-ready values (lists for tuples, strings for enums)."""
        data = asdict(self)
        data["classification"] = self.classification.value
        return data
