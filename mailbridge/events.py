"""Events the engine returns: what happened to a ticket, for notifiers to act on.

Plain frozen values, so the engine never calls notifiers (data moves one way).
Each carries the `Conversation` it belongs to: everything a notifier needs to
address, thread and word a mail without reading the database again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A ticket as the mails about it need it."""

    ticket_id: int
    ref: str
    ticket_type: str
    status: str
    queue: str
    subject: str
    topic: str  # the subject without prefixes and tags: Outlook's Thread-Topic
    requester: str
    watchers: tuple[str, ...]
    language: str | None
    opened_at: datetime
    thread_base: str | None  # the requester's Outlook conversation, if their mail had one
    conversation_id: int  # the first ticket of the conversation (this one, unless linked)
    parent_id: str | None  # the Message-ID a mail about it answers (In-Reply-To)
    references: tuple[str, ...]  # the conversation's Message-IDs, oldest first
    # Why no automatic mail may go to the requester (None: it may).
    requester_silenced: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketOpened:
    """A mail opened a ticket. `acknowledge` is False when answering could start a loop."""

    event_id: int
    conversation: Conversation
    acknowledge: bool
    silence_reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicReply:
    """An agent answered, by mail or from the command line: it goes to requester and watchers.

    `article_id` is the reply's article; without an inbound Message-ID of its
    own (a command-line reply) it takes the Message-ID of the mail we send.
    """

    event_id: int
    conversation: Conversation
    article_id: int
    agent: str
    agent_name: str
    text: str
    has_message_id: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged:
    """A ticket's status changed; `by` says who (an agent, the requester, the clock)."""

    event_id: int
    conversation: Conversation
    previous: str
    status: str
    by: str
    notify: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingReminder:
    """A ticket has waited for the requester for the configured days."""

    event_id: int
    conversation: Conversation


TicketEvent = TicketOpened | PublicReply | StatusChanged | PendingReminder
