"""The one exception the parser raises: bytes that are not a mail at all."""

from __future__ import annotations


class Unparseable(Exception):
    """Raised when the input cannot be read as a mail (empty, or no header at all).

    A mail that is merely broken never raises: it yields a ParsedMail with defects.
    Intake quarantines the record with this message as the reason.
    """
