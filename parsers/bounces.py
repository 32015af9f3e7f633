"""Who a bounce says could not be reached."""

from __future__ import annotations

from email.message import Message


def bounced_recipients(message: Message) -> tuple[str, ...]:
    """The addresses this delivery failure report names as failed, in order, once each."""
    return ()
