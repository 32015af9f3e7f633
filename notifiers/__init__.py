"""Outbound: engine events become templated mails in the outbox, then get delivered."""

from notifiers.delivery import deliver_due
from notifiers.outbox import enqueue
from notifiers.render import Renderer

__all__ = ["Renderer", "deliver_due", "enqueue"]
