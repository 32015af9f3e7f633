"""A look at a mail's header block without parsing the mail.

Receivers record the Message-ID with the raw bytes before the 250, when a full
parse would cost more than the commit; an admin reading the quarantine then sees
which mail it was even when the parse failed.
"""

from __future__ import annotations

from email.utils import parseaddr

from parsers.headers import MESSAGE_ID

MAX_HEAD = 65536


def header(raw: bytes, name: str) -> str | None:
    """The first `name:` field of the header block, unfolded (bounded to its first
    64 KiB), decoded as ASCII with replacements; None if absent."""
    # CRLF, LF or (old Mac mail) CR alone.
    text = raw[: MAX_HEAD * 2].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n\n", 1)[0][:MAX_HEAD].split(b"\n")
    wanted = name.lower().encode("ascii") + b":"
    for i, line in enumerate(lines):
        if line[: len(wanted)].lower() == wanted:
            value = line[len(wanted) :]
            for cont in lines[i + 1 :]:
                if cont[:1] not in (b" ", b"\t"):
                    break
                value += cont
            return value.decode("ascii", errors="replace").strip()
    return None


def message_id(raw: bytes) -> str | None:
    """The first Message-ID in the header block, or None."""
    value = header(raw, "Message-ID")
    found = MESSAGE_ID.search(value) if value is not None else None
    return found.group(0) if found else None


def envelope_sender(raw: bytes) -> str:
    """The sender a mail read from a mailbox was delivered from: its Return-Path
    (which the delivering server wrote; "" for a bounce's <>), else its From."""
    path = header(raw, "Return-Path")
    if path is not None:
        return parseaddr(path)[1]
    return parseaddr(header(raw, "From") or "")[1]
