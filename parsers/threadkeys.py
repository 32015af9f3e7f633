"""Keys a reply may carry to the ticket it belongs to, beside In-Reply-To and References.

Each key is a string with its kind in front, so the engine can weigh them
(issue 5: a signed reply token is strong, a subject tag is weak):

* `tag:INC-1042`: a ticket reference in the subject, bracketed or not. The parser
  knows no configuration, so it keeps every PREFIX-NUMBER it sees; the engine
  keeps those whose prefix a queue uses.
* `token:…`: the sub-address of a recipient (`helpdesk+TOKEN@example.org` in To,
  Cc or a delivery header): our reply addresses carry a signed token there. The
  parser only extracts it; the engine checks the signature.
* `thread-index:…`: Outlook's conversation: the first 22 bytes of Thread-Index
  (a FILETIME and a GUID) are the same in every mail of one conversation, so
  replies stay together even when the subject and the references are lost.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.message import Message

from parsers.headers import addresses, header_text

_TAG = re.compile(r"(?<![A-Za-z0-9-])([A-Z][A-Z0-9]{1,9}-\d{1,12})(?![A-Za-z0-9])")
_TOKEN = re.compile(r"[A-Za-z0-9._=-]{4,200}")
_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
_CONVERSATION_BYTES = 22
MAX_KEYS = 20  # a crafted subject must not make the engine look up thousands of keys


def thread_keys(message: Message, subject: str) -> tuple[str, ...]:
    """Every key this mail carries, strongest kinds first, each once."""
    keys = [*_tokens(message), *_thread_index(message), *_tags(subject)]
    return tuple(dict.fromkeys(keys))[:MAX_KEYS]


def _tags(subject: str) -> list[str]:
    return [f"tag:{tag}" for tag in _TAG.findall(subject)]


def _tokens(message: Message) -> list[str]:
    found = []
    for name in _RECIPIENT_HEADERS:
        # Most mail has no sub-address at all: skip the address parser for it.
        if not any("+" in header_text(value) for value in message.get_all(name, [])):
            continue
        for address in addresses(message, name):
            local = address.rpartition("@")[0]
            _base, plus, token = local.partition("+")
            if plus and _TOKEN.fullmatch(token):
                found.append(f"token:{token}")
    return found


def _thread_index(message: Message) -> list[str]:
    value = message.get("Thread-Index")
    if value is None:
        return []
    text = "".join(header_text(value).split())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return []
    if len(raw) < _CONVERSATION_BYTES:
        return []
    return [f"thread-index:{base64.b64encode(raw[:_CONVERSATION_BYTES]).decode()}"]
