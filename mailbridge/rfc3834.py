"""Addresses that never get automatic mail whatever they sent (RFC 3834 section 2).

Shared by the engine (may a mail be acknowledged?) and the notifiers (may this
notice go to this address?), which do not import each other.
"""

from __future__ import annotations

NEVER_ANSWER_LOCALPARTS = frozenset(
    {
        "mailer-daemon",
        "postmaster",
        "mail-daemon",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
    }
)


def never_answered(address: str) -> str | None:
    """Why `address` never gets automatic mail, or None if it may."""
    local = address.rpartition("@")[0].lower()
    if local in NEVER_ANSWER_LOCALPARTS:
        return f"sender {local}@… never gets automatic mail"
    return None
