"""A look at a mail's header block without parsing the mail.

Receivers record the Message-ID with the raw bytes before the 250, when a full
parse would cost more than the commit; an admin reading the quarantine then sees
which mail it was even when the parse failed.
"""

from __future__ import annotations

from parsers.headers import MESSAGE_ID

MAX_HEAD = 65536


def message_id(raw: bytes) -> str | None:
    """The first Message-ID in the header block (bounded to its first 64 KiB), or None."""
    # CRLF, LF or (old Mac mail) CR alone.
    text = raw[: MAX_HEAD * 2].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n\n", 1)[0][:MAX_HEAD].split(b"\n")
    for i, line in enumerate(lines):
        if line[:11].lower() == b"message-id:":
            value = line[11:]
            for cont in lines[i + 1 :]:
                if cont[:1] not in (b" ", b"\t"):
                    break
                value += cont
            found = MESSAGE_ID.search(value.decode("ascii", errors="replace"))
            return found.group(0) if found else None
    return None
