"""Strings taken from a mail made safe to keep: one line, no control or format characters.

Every header-derived string a ParsedMail carries (content types, Content-IDs,
reasons, file names, subjects) passes through `one_line`: CR/LF would break a
header we write from it, NUL is refused by PostgreSQL, and bidi overrides
(U+202E) make `evil\u202efdp.exe` display as `evilexe.pdf`.
"""

from __future__ import annotations

import unicodedata

# Controls, format characters (bidi overrides, zero-width) and lone surrogates.
_DROPPED = frozenset({"Cc", "Cf", "Cs"})
MAX_LINE = 998  # RFC 5322's line length: nothing we keep from a header needs more


def one_line(value: str, limit: int = MAX_LINE) -> str:
    """`value` with control, format and surrogate characters gone, whitespace runs
    collapsed to one space, stripped and cut at `limit` characters."""
    if value.isprintable() and "  " not in value:
        return value.strip()[:limit]
    kept = "".join(
        " " if char.isspace() else char
        for char in value
        if char.isspace() or unicodedata.category(char) not in _DROPPED
    )
    return " ".join(kept.split())[:limit]
