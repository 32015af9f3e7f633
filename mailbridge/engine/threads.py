"""Which ticket a mail belongs to: its thread keys, strongest first (DESIGN.md).

1. A signed reply token (`helpdesk+INC-1042.<mac>@…` in To, Cc, a delivery
   header or the envelope): strong, trusted whoever sends it.
2. A Message-ID in In-Reply-To or References that one of the ticket's mails
   has (inbound or outbound), or that we signed with the ticket's tag (found
   even when the database lost the row): strong.
3. A subject tag `[INC-1042]` of a configured prefix, or Outlook's conversation
   (Thread-Index): weak, trusted only from someone who takes part in that
   ticket (requester, watcher, owner, one of its queue's agents). From anyone
   else it opens a new ticket linked to the tagged one, so nobody writes into
   another customer's ticket by typing its number.

A ticket closed longer than the reopen window (or closed for good: changes,
releases) is not written into: the mail opens a new ticket linked to it.
Automatic mail (auto-replies, bulk, bounces) never opens or reopens anything
by a key: it is kept on the ticket it names, or taken as new mail if it names none.

Lookups are made for a whole batch at once: one query per kind of key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.orm import Session

from mailbridge.engine.lifecycle import LIFECYCLES
from mailbridge.settings import Settings
from mailbridge.signing import Signer
from mailbridge.store.models import (
    Article,
    OutboxMessage,
    Ticket,
    TicketLink,
    TicketType,
    Watcher,
)
from parsers import Classification, ParsedMail

MAX_REFERENCES = 50  # of one mail's References looked up; the newest ones
_REVERSE = {"follows": "followed_by", "mentions": "mentioned_by"}


@dataclass(frozen=True, slots=True)
class TicketState:
    """What threading (and then taking the mail) needs of a ticket."""

    id: int
    ref: str
    type: TicketType
    status: str
    queue: str
    requester: str
    owner: str | None
    status_changed_at: datetime | None
    conversation_id: int
    watchers: frozenset[str]

    def role_of(self, address: str | None, settings: Settings) -> str | None:
        """How `address` takes part in this ticket: requester, owner, watcher, agent, or None."""
        if not address:
            return None
        wanted = address.lower()
        if wanted == self.requester.lower():
            return "requester"
        if self.owner and wanted == self.owner.lower():
            return "owner"
        if wanted in self.watchers:
            return "watcher"
        if settings.agent(wanted, self.queue) is not None:
            return "agent"
        return None


@dataclass(frozen=True, slots=True)
class Found:
    ticket: TicketState
    key: str  # token, message-id, signed-message-id, tag, thread-index
    note: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Thread onto `found`, or (found is None) open a new ticket, linked to `link` if set."""

    found: Found | None = None
    link: Found | None = None
    link_kind: str = ""  # follows (a late reply), mentions (a stranger's tag)
    note: str = ""


@dataclass(frozen=True, slots=True)
class _Keys:
    tokens: tuple[str, ...]  # refs named by valid signed tokens
    message_ids: tuple[tuple[str, str], ...]  # (header, id), In-Reply-To first, then newest first
    tags: tuple[str, ...]
    bases: tuple[str, ...]


def keys_of(
    parsed: ParsedMail, envelope_recipients: Sequence[str], signer: Signer, prefixes: set[str]
) -> _Keys:
    """The thread keys a mail carries, checked: tokens verified, tags of our prefixes."""
    candidates = [k.removeprefix("token:") for k in parsed.thread_keys if k.startswith("token:")]
    for address in envelope_recipients:
        local = address.rpartition("@")[0]
        if "+" in local:
            candidates.append(local.partition("+")[2])
    tokens = [ref for c in candidates if (ref := signer.ref_of(c))]
    ids: list[tuple[str, str]] = []
    if parsed.in_reply_to:
        ids.append(("In-Reply-To", parsed.in_reply_to))
    ids += [("References", mid) for mid in reversed(parsed.references[-MAX_REFERENCES:])]
    # A bounce names our mail in the copy it returns, seldom in its own headers.
    ids += [("the returned mail's Message-ID", mid) for mid in parsed.bounced_message_ids]
    tags = [
        k.removeprefix("tag:")
        for k in parsed.thread_keys
        if k.startswith("tag:") and k[4:].partition("-")[0] in prefixes
    ]
    bases = [
        k.removeprefix("thread-index:") for k in parsed.thread_keys if k.startswith("thread-index:")
    ]
    return _Keys(
        tuple(dict.fromkeys(tokens)),
        tuple(dict.fromkeys(ids)),
        tuple(dict.fromkeys(tags)),
        tuple(bases),
    )


def decide_all(
    session: Session,
    mails: Sequence[tuple[ParsedMail, Sequence[str]]],
    settings: Settings,
    signer: Signer,
    now: datetime,
) -> list[Decision]:
    """A decision per (parsed mail, envelope recipients), with one lookup per kind of key."""
    prefixes = {q.prefix for q in settings.queues}
    keys = [keys_of(parsed, rcpts, signer, prefixes) for parsed, rcpts in mails]
    message_ids = {mid for k in keys for _, mid in k.message_ids}
    by_message_id = _tickets_by_message_id(session, message_ids)
    signed = {mid: ref for mid in message_ids if (ref := signer.ref_of_message_id(mid))}
    refs = {r for k in keys for r in (*k.tokens, *k.tags)} | set(signed.values())
    bases = {b for k in keys for b in k.bases}
    tickets = _tickets(session, refs, set(by_message_id.values()), bases)
    by_ref = {t.ref: t for t in tickets.values()}
    by_base: dict[str, TicketState] = {}
    for base, ticket_id in _bases(session, bases):
        by_base.setdefault(base, tickets[ticket_id])
    window = timedelta(days=settings.tickets.reopen_window_days)
    decisions = []
    for (parsed, _), k in zip(mails, keys, strict=True):
        found, mention = _match(
            parsed, k, by_ref, by_message_id, signed, tickets, by_base, settings
        )
        decisions.append(_decide(parsed, found, mention, window, now))
    return decisions


def _match(
    parsed: ParsedMail,
    keys: _Keys,
    by_ref: dict[str, TicketState],
    by_message_id: dict[str, int],
    signed: dict[str, str],
    tickets: dict[int, TicketState],
    by_base: dict[str, TicketState],
    settings: Settings,
) -> tuple[Found | None, Found | None]:
    for ref in keys.tokens:
        if ref in by_ref:
            return Found(by_ref[ref], "token", f"signed reply address of {ref}"), None
    for header, mid in keys.message_ids:
        # Our own Message-IDs name their ticket whatever rows say: a mail that
        # reused one of them as its own cannot pull replies elsewhere.
        if mid in signed:
            if signed[mid] in by_ref:
                ticket = by_ref[signed[mid]]
                note = f"{header} {mid}, our mail on {ticket.ref}"
                return Found(ticket, "signed-message-id", note), None
            continue
        if mid in by_message_id:
            ticket = tickets[by_message_id[mid]]
            return Found(ticket, "message-id", f"{header} {mid}, a mail of {ticket.ref}"), None
    mention: Found | None = None
    for ref in keys.tags:
        tagged = by_ref.get(ref)
        if tagged is None:
            continue
        role = tagged.role_of(parsed.sender, settings)
        if role is not None:
            return Found(tagged, "tag", f"subject tag [{ref}] from the {role}"), None
        mention = mention or Found(tagged, "tag", f"subject tag [{ref}]")
    for base in keys.bases:
        grouped = by_base.get(base)
        if grouped is not None and (role := grouped.role_of(parsed.sender, settings)):
            note = f"Outlook conversation of {grouped.ref} (Thread-Index) from the {role}"
            return Found(grouped, "thread-index", note), None
    return None, mention


def _decide(
    parsed: ParsedMail,
    found: Found | None,
    mention: Found | None,
    window: timedelta,
    now: datetime,
) -> Decision:
    human = parsed.classification is Classification.HUMAN
    if found is not None:
        ticket = found.ticket
        if ticket.status != "closed" or not human:
            return Decision(found=found, note=found.note)
        for_good = not LIFECYCLES[ticket.type]["closed"]
        closed_at = ticket.status_changed_at
        if not for_good and (closed_at is None or now - closed_at <= window):
            return Decision(found=found, note=found.note)
        why = (
            "is closed for good"
            if for_good
            else f"was closed {closed_at:%Y-%m-%d}, before the {window.days}-day reopen window"
        )
        return Decision(
            link=found,
            link_kind="follows",
            note=f"{found.note}; {ticket.ref} {why}: a new ticket, linked",
        )
    if mention is not None and not human:
        return Decision(note=f"{mention.note} in automatic mail from a stranger: a new ticket")
    if mention is not None:
        who = parsed.sender or "an unknown sender"
        return Decision(
            link=mention,
            link_kind="mentions",
            note=f"{mention.note} from {who}, who takes no part in {mention.ticket.ref}: "
            "a new ticket, linked",
        )
    return Decision(note="no thread key matched: a new ticket")


def _tickets_by_message_id(session: Session, message_ids: set[str]) -> dict[str, int]:
    """Ticket ids of the mails with these Message-IDs: articles, and our outbox."""
    if not message_ids:
        return {}
    wanted = list(message_ids)
    # The same id on two tickets (a client that reuses ids, or a mail forged to
    # reuse one): our own mail wins, then the ticket that had it first.
    query: Any = union_all(
        select(
            OutboxMessage.message_id,
            OutboxMessage.ticket_id,
            literal(0).label("rank"),
            OutboxMessage.id.label("seq"),
        ).where(OutboxMessage.message_id.in_(wanted), OutboxMessage.ticket_id.is_not(None)),
        select(Article.message_id, Article.ticket_id, literal(1), Article.id).where(
            Article.message_id.in_(wanted)
        ),
    ).order_by("rank", "seq")
    found: dict[str, int] = {}
    rows: list[Any] = list(session.execute(query))
    for message_id, ticket_id, _rank, _seq in rows:
        found.setdefault(message_id, ticket_id)
    return found


def _bases(session: Session, bases: set[str]) -> list[tuple[str, int]]:
    if not bases:
        return []
    query = (
        select(Ticket.thread_base, Ticket.id)
        .where(Ticket.thread_base.in_(bases))
        .order_by(Ticket.id.desc())
    )
    return [(base, ticket_id) for base, ticket_id in session.execute(query) if base]


def _tickets(
    session: Session, refs: set[str], ids: set[int], bases: set[str]
) -> dict[int, TicketState]:
    if not (refs or ids or bases):
        return {}
    condition = Ticket.ref.in_(refs) | Ticket.id.in_(ids)
    if bases:
        condition |= Ticket.thread_base.in_(bases)
    rows = session.execute(
        select(
            Ticket.id,
            Ticket.ref,
            Ticket.type,
            Ticket.status,
            Ticket.queue,
            Ticket.requester,
            Ticket.owner,
            Ticket.status_changed_at,
            func.coalesce(Ticket.conversation_id, Ticket.id),
        )
        .where(condition)
        # Held until the batch commits: a status we read is the status we change
        # (another node, the command line or the clock waits for us).
        .with_for_update(of=Ticket)
    ).all()
    watchers = watchers_of(session, {row[0] for row in rows})
    return {row[0]: TicketState(*row, watchers=frozenset(watchers.get(row[0], ()))) for row in rows}


def watchers_of(session: Session, ticket_ids: set[int]) -> dict[int, list[str]]:
    """Watcher addresses (lower-case) per ticket, oldest first."""
    if not ticket_ids:
        return {}
    found: dict[int, list[str]] = {}
    query: Select[int, str] = (
        select(Watcher.ticket_id, Watcher.address)
        .where(Watcher.ticket_id.in_(ticket_ids))
        .order_by(Watcher.id)
    )
    for ticket_id, address in session.execute(query):
        found.setdefault(ticket_id, []).append(address)
    return found


def links_of(session: Session, ticket_id: int) -> list[dict[str, str]]:
    """The tickets this one was opened from, and those opened from it."""
    found = []
    query = select(TicketLink.kind, TicketLink.ticket_id, TicketLink.other_id).where(
        (TicketLink.ticket_id == ticket_id) | (TicketLink.other_id == ticket_id)
    )
    rows = session.execute(query.order_by(TicketLink.id)).all()
    ids = {r[1] for r in rows} | {r[2] for r in rows}
    names = select(Ticket.id, Ticket.ref).where(Ticket.id.in_(ids))
    refs: dict[int, str] = {row[0]: row[1] for row in session.execute(names)}
    for kind, this, other in rows:
        if this == ticket_id:
            found.append({"kind": kind, "ref": refs[other]})
        else:
            found.append({"kind": _REVERSE.get(kind, kind), "ref": refs[this]})
    return found
