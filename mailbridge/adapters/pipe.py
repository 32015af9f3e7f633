"""Pipe intake for an MTA (Postfix pipe, Exim, sendmail aliases): stdin to intake record.

The MTA reads our exit code: 0 means the mail is committed and it may forget
it; 75 (EX_TEMPFAIL) means keep it and retry.
"""

from __future__ import annotations

from typing import BinaryIO

from mailbridge.clock import Clock
from mailbridge.engine.intake import IncomingMail, receive
from mailbridge.errors import PolicyViolation
from mailbridge.store import Store


def read_stdin(stream: BinaryIO, limit: int) -> bytes:
    """Read at most `limit` bytes; more is a PolicyViolation (the MTA bounces it)."""
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise PolicyViolation(f"message larger than {limit} bytes")
    return raw


def ingest(
    store: Store, raw: bytes, *, sender: str, recipients: tuple[str, ...], clock: Clock
) -> int:
    """Commit one piped mail; return the intake id. Raises StoreUnavailable."""
    return receive(
        store,
        IncomingMail(
            raw=raw, envelope_sender=sender, envelope_recipients=recipients, adapter="pipe"
        ),
        clock,
    )
