"""Conversation benchmark: new mails and the replies that follow them, end to end.

What is measured, per backend (a SQLite file; a fresh PostgreSQL database):

* The real daemon (`mailbridge --config FILE run`, a subprocess with its worker
  process), configured as in bench/ingest.py plus three `[[agents]]`, receives
  N mails over K concurrent SMTP sessions on loopback, in a fixed mix of four
  kinds (`--mix`, default 40/25/20/15 per cent of N):
  - new: mailgen's ~5 KB human mail to the queue; it opens a ticket and is
    acknowledged;
  - requester reply (~2.3 KB, multipart/alternative, from the requester): sent to
    the ack's Reply-To (`helpdesk+TAG@domain`, in To and RCPT TO), In-Reply-To
    the ack, References the new mail and the ack, Subject "Re: " + the ack's
    subject. It lands on the ticket and nothing is sent back;
  - agent reply (~1.4 KB text/plain, from one of the agents), addressed and
    threaded the same way: a public reply, which the daemon sends on to the
    requester as one outbound mail;
  - auto-reply (~0.85 KB, an Exchange-style out-of-office answer to the ack:
    `Auto-Submitted: auto-replied`, Subject "Automatic reply: " + the ack's,
    sent to the Reply-To address, half with the null reverse path of RFC 3834
    section 3.3, half with the requester's): lands on the ticket, nothing back.
* The plan is fixed by `--seed`: with n = mix[0] x N new mails, the tickets
  that get a follow-up of each kind are drawn with `random.Random(seed).sample`
  (one draw per kind, without replacement), so a ticket gets at most one
  follow-up of each kind, and the agent, the texts and the reverse path of each
  follow-up are drawn from the same generator. (mailgen adds a random run id
  to every Message-ID and address, so that runs never share one.)
* Closed loop for the replies. When a ticket's ack is seen, its follow-ups are
  queued in the order auto-reply, requester reply, agent reply (an
  autoresponder answers at once, people later). Each of the K sessions (one
  `smtplib.SMTP` connection) takes the next job from one dispatcher: a queued
  follow-up if there is one, else the next new mail; so new mail goes as fast
  as the connections allow (as in ingest.py) and every reply goes out as soon
  as its ack is seen, with no think time. Which session sends what, and so the
  order of mails at the daemon, depends on timing; the mails do not.
* Two runs per backend, as in ingest.py: a throughput run as above, then a
  latency run on a fresh database and a fresh plan (seed + 1) whose new mail is
  paced, open loop, so that all kinds together arrive at about half the
  throughput run's end-to-end rate (`--rate R`: only paced runs, at R).
* Outbound mail is watched as in ingest.py (a 5 ms scan of the Maildir's new/,
  each file read and moved to cur/; its time is when the scan first saw it).
  A file with Auto-Submitted whose In-Reply-To is a new mail is that mail's
  ack; a file without Auto-Submitted whose Subject carries the tag `[INC-n]` of
  a ticket with an agent reply is that reply sent on (a ticket has at most one,
  so the match is exact). Both must be addressed to the ticket's requester.
  Anything else is unexpected and fails the run: a second ack, an answer to a
  requester reply or to an auto-reply, a mail to the wrong person.
* Throughput: N / (first send -> the later of the last expected outbound mail
  seen and the database settled: no pending intake record, the SQLite spool
  included, and no pending outbox row; `backlog` of
  tests/support/helpdesk_state.py, polled every 20 ms once the last expected
  mail is in). Latency, p50 and p99 (nearest rank): from a mail's 250 to its
  notification seen (new mail: the ack; agent reply: the mail sent on).
  Peak RSS: daemon + worker, the 50 ms sampler of bench/watchers.py (as ingest.py).
* Checks, each FAILED loudly (exit status 1): every mail got a 250; one ack per
  new mail, one mail per agent reply, nothing else went out; `mailbridge
  tickets --json` lists one ticket per new mail (its requesters exactly the new
  mails' senders); each mail's Message-ID is one article on its own ticket
  (outbound_reply for an agent's, inbound_reply otherwise); the daemon logged
  no error. Forwarded agent replies whose In-Reply-To names an auto-reply are
  counted and shown (a threading choice of the daemon, not a mail to an
  autoresponder).

The ceiling is ingest.py's: a bare aiosmtpd server committing each raw mail to
SQLite before its 250, driven by ingest.py's client with the same K and the same
N mails (the plan's mails, replies built on placeholder acks: the same kinds
and sizes), in the same run. The daemon's rate is printed as a fraction of it.

Run: `.venv/bin/python bench/conversation.py [--mails N] [--connections K]
[--backend sqlite|postgres|both] [--pg-url URL] [--mix NEW,REQ,AGENT,AUTO]
[--rate R] [--seed S] [--no-ceiling] [--keep] [--json PATH] [--py-spy]`; loopback only.
The work directory (configs, daemon logs, databases, Maildirs) is kept when a
check fails or the run breaks.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import random
import re
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    BIN,
    IDLE_TIMEOUT,
    SendLog,
    add_output_arguments,
    add_rate_argument,
    add_run_arguments,
    clean_env,
    daemon,
    daemon_case,
    finish,
    log_complaints,
    percentile,
    print_checks,
    print_usage,
    run_name,
    smtp_sessions,
    toml_str,
    work_directory,
)
from ingest import run_ceiling
from mailgen import QUEUE, Mail, alternative, make_mails, raw_mail, rfc_date
from sqlalchemy import select
from watchers import MaildirWatcher, RssSampler, client_cpu_seconds, py_spy

from mailbridge.store import Store
from mailbridge.store.models import Article, ArticleKind, Ticket
from tests.support.helpdesk_state import backlog

SETTLE_POLL = 0.02  # seconds between backlog queries at the end
SETTLE_TIMEOUT = 60.0
AGENTS = (
    ("Priya Raman", "priya.raman@bench.example"),
    ("Tomasz Wolak", "tomasz.wolak@bench.example"),
    ("Aiko Mori", "aiko.mori@bench.example"),
)
_REPLY_LINES = (
    "Thanks for the quick answer.",
    "One more detail: it also happens on the docking station at my desk.",
    "I tried again after lunch and the problem is still there.",
    "My colleague Jonas has the same issue since this morning.",
    "I am free for a remote session any time after 14:00 today.",
    "The error code shown is 0x80070005, if that helps.",
)
_AGENT_LINES = (
    "Thanks for the details. I have pushed a configuration update to your device.",
    "Please restart the laptop once and let us know whether the problem persists.",
    "This is a known issue after yesterday's update; a fix is being rolled out today.",
    "I have added the missing permission to your account; it can take 15 minutes.",
    "Could you tell us the asset tag of the device? It is on the sticker underneath.",
)


class Kind(enum.StrEnum):
    NEW = "new"
    REQUESTER = "requester reply"
    AGENT = "agent reply"
    AUTO = "auto-reply"


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class FollowUp:
    index: int  # in the run's send log: new mails first, then follow-ups
    kind: Kind
    ticket: int  # index of the new mail it answers
    message_id: str
    variant: int  # seeded: which agent, which lines, which reverse path


@dataclass(frozen=True, slots=True)
class Plan:
    new: tuple[Mail, ...]
    followups: tuple[tuple[FollowUp, ...], ...]  # per ticket, in send order
    kinds: tuple[Kind, ...]  # of each mail, by index

    @property
    def size(self) -> int:
        return len(self.kinds)

    def all_followups(self) -> Iterator[FollowUp]:
        for mine in self.followups:
            yield from mine


def make_plan(total: int, mix: Sequence[int], seed: int) -> Plan:
    counts = [round(total * share / 100) for share in mix[:3]]
    counts.append(total - sum(counts))
    n_new, n_req, n_agent, n_auto = counts
    rng = random.Random(seed)
    new = make_mails(n_new, seed)
    run = new[0].message_id[1:7] if new else "empty"
    chosen = {
        Kind.REQUESTER: set(rng.sample(range(n_new), n_req)),
        Kind.AGENT: set(rng.sample(range(n_new), n_agent)),
        Kind.AUTO: set(rng.sample(range(n_new), n_auto)),
    }
    index = n_new
    followups = []
    for ticket in range(n_new):
        mine = []
        for kind in (Kind.AUTO, Kind.REQUESTER, Kind.AGENT):
            if ticket in chosen[kind]:
                tag = kind.name.lower()
                bits = rng.getrandbits(64)
                domain = "bench.example" if kind is Kind.AGENT else new[ticket].sender.split("@")[1]
                mid = f"<{tag}.{run}.{ticket}.{bits:016x}@mail.{domain}>"
                mine.append(FollowUp(index, kind, ticket, mid, bits))
                index += 1
        followups.append(tuple(mine))
    kinds = [Kind.NEW] * n_new + [f.kind for mine in followups for f in mine]
    return Plan(tuple(new), tuple(followups), tuple(kinds))


# ---------------------------------------------------------------- the follow-up mails


@dataclass(frozen=True, slots=True)
class Ack:
    message_id: str
    subject: str
    reply_to: str
    ref: str


_SUBJECT = re.compile(rb"^Subject: (.*)$", re.MULTILINE)


def subject_of(mail: Mail) -> str:
    match = _SUBJECT.search(mail.raw)
    return match.group(1).decode().strip() if match else ""


def person(address: str) -> str:
    """ "anna.rossi.ab12c3@example.com" -> "Anna Rossi", as mailgen builds them."""
    first, last = address.split("@")[0].split(".")[:2]
    return f"{first.title()} {last.title()}"


def _quoted_ack(ack: Ack, date: str) -> list[str]:
    return [
        f"On {date}, Help desk <{QUEUE}> wrote:",
        "> Hello,",
        ">",
        f"> Thank you for your message. We have recorded it as ticket {ack.ref}:",
        ">",
        f">     {ack.subject.partition('] ')[2]}",
        ">",
        "> We will get back to you as soon as we can. If you have anything to add in",
        "> the meantime, simply reply to this mail.",
        ">",
        "> Kind regards,",
        "> Help desk",
    ]


def followup_mail(f: FollowUp, new: Mail, ack: Ack) -> Mail:
    """The follow-up as its sender's client (or autoresponder) writes it to the ack."""
    rng = random.Random(f.variant)
    date = rfc_date()
    requester = new.sender
    threading_ = [
        f"Date: {date}",
        f"Message-ID: {f.message_id}",
        f"In-Reply-To: {ack.message_id}",
        f"References: {new.message_id}",
        f" {ack.message_id}",
    ]
    if f.kind is Kind.AUTO:
        sender = "" if f.variant % 2 else requester
        headers = [
            f"From: {person(requester)} <{requester}>",
            f"To: {ack.reply_to}",
            f"Subject: Automatic reply: {ack.subject}",
            *threading_,
            "Auto-Submitted: auto-replied",
            "X-Auto-Response-Suppress: All",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        body = [
            "Thank you for your message. I am out of the office until Monday with",
            "limited access to mail and will answer when I am back.",
            "",
            "For urgent matters please call the front desk on +49 30 1234 0.",
        ]
        return _mail(f.index, f.message_id, sender, headers, body)
    if f.kind is Kind.AGENT:
        name, address = AGENTS[f.variant % len(AGENTS)]
        headers = [
            f"Received: from it-{f.variant % 40:02d}.bench.example ([10.1.2.{f.variant % 250}])",
            f"\tby mx.bench.example (Postfix) with ESMTPSA id {f.variant:012X}; {date}",
            f'From: "{name}" <{address}>',
            f"To: {ack.reply_to}",
            f"Subject: Re: {ack.subject}",
            *threading_,
            "MIME-Version: 1.0",
            "User-Agent: Mozilla/5.0 Thunderbird/128.4.0",
            "Content-Type: text/plain; charset=utf-8; format=flowed",
            "Content-Transfer-Encoding: 8bit",
        ]
        body = [
            f"Hello {person(requester).split()[0]},",
            "",
            *rng.sample(_AGENT_LINES, 2),
            "",
            "Best regards,",
            name,
            "IT Service Desk",
            "",
            *_quoted_ack(ack, date),
        ]
        return _mail(f.index, f.message_id, address, headers, body)
    boundary = f"=_reply_{f.variant:016x}"
    lines = rng.sample(_REPLY_LINES, 3)
    first = person(requester).split()[0]
    html = "".join(f"<p>{line}</p>" for line in lines)
    quoted = _quoted_ack(ack, date)
    plain = ["Hello,", "", *lines, "", f"Thanks, {first}", "", *quoted]
    html_lines = [
        f"<html><body><p>Hello,</p>{html}<p>Thanks, {first}</p>",
        f'<blockquote type="cite">{"<br>".join(q.lstrip("> ") for q in quoted[1:])}',
        "</blockquote></body></html>",
    ]
    mime, body = alternative(boundary, plain, html_lines)
    headers = [
        f"Received: from mail.{requester.split('@')[1]} (mail [192.0.2.{f.variant % 250}])",
        f"\tby mx.bench.example (Postfix) with ESMTPS id {f.variant:012X}; {date}",
        f"From: {person(requester)} <{requester}>",
        f"To: {ack.reply_to}",
        f"Subject: Re: {ack.subject}",
        *threading_,
        *mime,
    ]
    return _mail(f.index, f.message_id, requester, headers, body)


def _mail(index: int, message_id: str, sender: str, headers: list[str], body: list[str]) -> Mail:
    return Mail(index, message_id, sender, raw_mail(headers, body))


def ceiling_mails(plan: Plan) -> list[Mail]:
    """The plan's N mails for the ceiling server: replies built on placeholder acks."""
    mails = list(plan.new)
    for f in plan.all_followups():
        ref = f"INC-{1001 + f.ticket}"
        ack = Ack(
            f"<{ref}.placeholder0000.{f.variant:024x}@bench.example>",
            f"[{ref}] {subject_of(plan.new[f.ticket])}",
            f"helpdesk+{ref}.placeholder0000@bench.example",
            ref,
        )
        mails.append(followup_mail(f, plan.new[f.ticket], ack))
    return mails


# ---------------------------------------------------------------- sending


@dataclass(frozen=True, slots=True)
class Job:
    mail: Mail | None = None  # a new mail, or
    followup: FollowUp | None = None  # a follow-up to build on its ack
    ack: Ack | None = None


class Dispatcher:
    """Hands the sessions their next mail: queued follow-ups first, then new mail.

    With `rate` (mails/s of all kinds), new mail i is due at start + i / (rate x
    new share): open loop, a late session sends at once rather than shifting the
    schedule. Follow-ups are never held back."""

    def __init__(self, plan: Plan, rate: float | None) -> None:
        self.plan = plan
        self.new_rate = rate * len(plan.new) / plan.size if rate else None
        self.start = 0.0  # perf_counter of the first send; set by converse()
        self._ready: deque[Job] = deque()
        self._next_new = 0
        self._unqueued = sum(len(f) for f in plan.followups)  # follow-ups not yet handed out
        self._cond = threading.Condition()
        self._halt = False
        self.answered = 0  # 250s and refusals: progress, for the stall check

    def ack_seen(self, ticket: int, ack: Ack) -> None:
        with self._cond:
            self._ready.extend(Job(followup=f, ack=ack) for f in self.plan.followups[ticket])
            self._cond.notify(len(self.plan.followups[ticket]))

    def refused(self, job: Job) -> None:
        """A refused new mail has no ack: its follow-ups will never be queued."""
        with self._cond:
            if job.mail is not None:
                self._unqueued -= len(self.plan.followups[job.mail.index])
                self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._halt = True
            self._cond.notify_all()

    def take(self) -> Job | None:
        with self._cond:
            while not self._halt:
                if self._ready:
                    self._unqueued -= 1
                    return self._ready.popleft()
                if self._next_new < len(self.plan.new):
                    if self.new_rate is not None:
                        due = self.start + self._next_new / self.new_rate - time.perf_counter()
                        if due > 0:
                            self._cond.wait(due)  # or until a follow-up is queued
                            continue
                    self._next_new += 1
                    return Job(mail=self.plan.new[self._next_new - 1])
                if self._unqueued <= 0:
                    return None
                self._cond.wait(0.5)
            return None


def converse(port: int, dispatcher: Dispatcher, connections: int) -> SendLog:
    """Run the K sessions until the dispatcher has nothing left; every 250 timed."""
    size = dispatcher.plan.size
    log = SendLog([0] * size, [0] * size)

    def released(at: float) -> None:
        dispatcher.start = at

    def send(client: smtplib.SMTP, _lane: int) -> None:
        while (job := dispatcher.take()) is not None:
            if job.mail is not None:
                mail, rcpt = job.mail, QUEUE
            else:
                assert job.followup is not None
                assert job.ack is not None
                new = dispatcher.plan.new[job.followup.ticket]
                mail = followup_mail(job.followup, new, job.ack)
                rcpt = job.ack.reply_to
            if not log.send(client, mail, rcpt):
                dispatcher.refused(job)
            dispatcher.answered += 1

    progress, last = -1, time.monotonic()

    def watch() -> None:
        nonlocal progress, last
        if dispatcher.answered != progress:
            progress, last = dispatcher.answered, time.monotonic()
        elif time.monotonic() - last > IDLE_TIMEOUT:
            print(f"  ! nothing sent for {IDLE_TIMEOUT:.0f}s (acks missing?): stopping")
            dispatcher.stop()

    # A session that fails loses a mail in flight, whose follow-ups would never come.
    smtp_sessions(
        port, connections, send, on_start=released, on_failure=dispatcher.stop, watch=watch
    )
    return log


# ---------------------------------------------------------------- watching outbound mail

_FOLD = re.compile(r"\r?\n[ \t]+")
_TAG = re.compile(r"\[([A-Z0-9]+-\d+)\]")


def header_fields(head: bytes) -> dict[str, str]:
    """The first value of each header field, unfolded (ASCII here: we wrote them)."""
    block = _FOLD.sub(" ", head.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
    fields: dict[str, str] = {}
    for line in block.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    return fields


class OutboundWatcher(MaildirWatcher):
    """Matches each file the daemon writes to the Maildir to the mail it answers."""

    head_bytes = 16384

    def __init__(self, maildir: Path, plan: Plan, on_ack: Callable[[int, Ack], None]) -> None:
        super().__init__(maildir, name="outbound-watcher")
        self.plan = plan
        self.on_ack = on_ack
        self.by_id = {m.message_id: m.index for m in plan.new}
        self.agent_reply = {f.ticket: f.index for f in plan.all_followups() if f.kind is Kind.AGENT}
        self.auto_ids = {f.message_id for f in plan.all_followups() if f.kind is Kind.AUTO}
        self.seen_ns = [0] * plan.size  # new mail: its ack; agent reply: the mail sent on
        self.acks: list[Ack | None] = [None] * len(plan.new)
        self.ticket_of: dict[str, int] = {}  # ref -> new mail
        self.unexpected: list[str] = []
        self.under_auto_reply = 0  # forwarded replies whose In-Reply-To is an auto-reply
        self.files = 0

    def arrived(self, name: str, head: bytes, seen_ns: int, mtime_ns: int) -> None:
        self.files += 1
        self.match(name, header_fields(head), seen_ns)

    def match(self, name: str, fields: dict[str, str], seen: int) -> None:
        parent = fields.get("in-reply-to", "")
        to = fields.get("to", "")
        tag = _TAG.search(fields.get("subject", ""))
        ticket = self.by_id.get(parent)
        if fields.get("auto-submitted") and ticket is not None and tag:
            index = ticket if fields.get("reply-to") else -1
            if index >= 0 and self.acks[ticket] is None:
                self.acks[ticket] = Ack(
                    fields.get("message-id", ""), fields["subject"], fields["reply-to"], tag[1]
                )
                self.ticket_of[tag[1]] = ticket
        elif not fields.get("auto-submitted") and tag and tag[1] in self.ticket_of:
            ticket = self.ticket_of[tag[1]]
            index = self.agent_reply.get(ticket, -1)
            if parent in self.auto_ids:
                self.under_auto_reply += 1
        else:
            index = -1
        if index < 0 or self.seen_ns[index] or to != self.plan.new[ticket or 0].sender:
            self.unexpected.append(
                f"{name}: To {to!r}, Subject {fields.get('subject')!r},"
                f" In-Reply-To {parent!r}, Auto-Submitted {fields.get('auto-submitted')!r}"
            )
            return
        self.seen_ns[index] = seen
        self.found_one()
        if index < len(self.plan.new):
            ack = self.acks[index]
            assert ack is not None
            self.on_ack(index, ack)

    def wait_for_all(self, expected: Sequence[int]) -> None:
        while not all(self.seen_ns[i] for i in expected):
            if self.stalled():
                missing = sum(1 for i in expected if not self.seen_ns[i])
                print(f"  ! no outbound mail for {IDLE_TIMEOUT:.0f}s; {missing} still missing")
                return
            time.sleep(0.01)


# ---------------------------------------------------------------- a run


@dataclass(slots=True)
class Run:
    name: str
    backend: str
    pace: float | None  # target send rate, all kinds; None: as fast as possible
    connections: int
    planned: dict[str, int]
    sent: dict[str, int]  # kind -> 250s
    first_send_ns: int
    last_250_ns: int
    last_outbound_ns: int
    settled_ns: int  # 0: never settled
    ack_ms: list[float]
    agent_ms: list[float]
    outbound_files: int
    under_auto_reply: int
    peak_rss: int
    peak_rss_tree: int
    cpu: dict[str, float]
    client_cpu: float
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def mails(self) -> int:
        return sum(self.sent.values())

    @property
    def seconds(self) -> float:
        end = max(self.last_outbound_ns, self.settled_ns, self.last_250_ns)
        return (end - self.first_send_ns) / 1e9

    @property
    def e2e_rate(self) -> float:
        return self.mails / self.seconds


def run_backend(
    backend: str,
    workdir: Path,
    plan: Plan,
    connections: int,
    rate: float | None,
    pg_url: str,
    profile: bool,
) -> Run:
    planned = Counter(plan.kinds)
    mix = ", ".join(f"{planned[k]} {k}" for k in Kind)
    name, directory = run_name(backend, rate)
    print(f"\n== {name}: {plan.size} mails ({mix}) over {connections} connections")
    agents = "".join(
        f"\n[[agents]]\naddress = {toml_str(address)}\nname = {toml_str(agent)}\n"
        for agent, address in AGENTS
    )
    with daemon_case(workdir / directory, backend, pg_url, agents) as case:
        store = Store(case.url, pool_size=1)
        try:
            with daemon(case) as pid:
                sampler = RssSampler(pid)
                sampler.start()
                dispatcher = Dispatcher(plan, rate)
                watcher = OutboundWatcher(case.maildir, plan, dispatcher.ack_seen)
                watcher.start()
                with py_spy(sampler, case.root) if profile else nullcontext():
                    cpu0 = client_cpu_seconds()
                    sent = converse(case.port, dispatcher, connections)
                    print(f"  sent: {sum(1 for t in sent.acked_ns if t)} got 250; waiting")
                    expected = [
                        i
                        for i in range(plan.size)
                        if sent.acked_ns[i] and plan.kinds[i] in (Kind.NEW, Kind.AGENT)
                    ]
                    watcher.wait_for_all(expected)
                    settled_ns = wait_settled(store)
                    watcher.stop()
                    client_cpu = client_cpu_seconds() - cpu0
                    sampler.stop()
                print(f"  daemon pid {pid}, worker pid {sampler.worker_pid}, log {case.log}")
            tickets = json.loads(
                subprocess.run(
                    [str(BIN / "mailbridge"), "--config", str(case.config), "tickets", "--json"],
                    capture_output=True,
                    check=True,
                    env=clean_env(),
                    cwd=case.root,
                ).stdout
            )
            articles = articles_by_message_id(store)
        finally:
            store.dispose()
    done = [i for i in range(plan.size) if sent.acked_ns[i]]
    run = Run(
        name=name,
        backend=backend,
        pace=rate,
        connections=connections,
        planned={str(k): v for k, v in planned.items()},
        sent={str(k): v for k, v in Counter(plan.kinds[i] for i in done).items()},
        first_send_ns=min(t for t in sent.started_ns if t),
        last_250_ns=max(sent.acked_ns),
        last_outbound_ns=max(watcher.seen_ns),
        settled_ns=settled_ns,
        ack_ms=_latencies(sent, watcher, [i for i in done if i < len(plan.new)]),
        agent_ms=_latencies(sent, watcher, [i for i in done if plan.kinds[i] is Kind.AGENT]),
        outbound_files=watcher.files,
        under_auto_reply=watcher.under_auto_reply,
        peak_rss=sampler.peak,
        peak_rss_tree=sampler.peak_tree,
        cpu=dict(sampler.cpu),
        client_cpu=client_cpu,
    )
    complaints = log_complaints(case.log)
    check(run, plan, sent, watcher, tickets, articles, complaints, sampler.worker_pids)
    print_run(run)
    return run


def _latencies(sent: SendLog, watcher: OutboundWatcher, indexes: list[int]) -> list[float]:
    return [(watcher.seen_ns[i] - sent.acked_ns[i]) / 1e6 for i in indexes if watcher.seen_ns[i]]


def wait_settled(store: Store) -> int:
    """When the daemon was first seen with nothing pending (intake, spool, outbox); 0: never."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if backlog(store).settled:
            return time.time_ns()
        time.sleep(SETTLE_POLL)
    print(f"  ! not settled after {SETTLE_TIMEOUT:.0f}s: {backlog(store)}")
    return 0


def articles_by_message_id(store: Store) -> dict[str, list[tuple[str, str]]]:
    """Message-ID -> (article kind, ticket ref) of every article that has one."""
    found: dict[str, list[tuple[str, str]]] = {}
    with store.reading() as session:
        rows = session.execute(
            select(Article.message_id, Article.kind, Ticket.ref)
            .join(Ticket, Article.ticket_id == Ticket.id)
            .where(Article.message_id.is_not(None))
        )
        for message_id, kind, ref in rows:
            found.setdefault(message_id or "", []).append((str(kind), ref))
    return found


def check(
    run: Run,
    plan: Plan,
    sent: SendLog,
    watcher: OutboundWatcher,
    tickets: list[dict[str, object]],
    articles: dict[str, list[tuple[str, str]]],
    complaints: list[str],
    worker_pids: list[int],
) -> None:
    """Fill run.failures (the run is wrong) and run.warnings (worth a look)."""
    fail, warn = run.failures.append, run.warnings.append
    if sent.refused:
        first = next(iter(sent.refused.items()))
        fail(f"{len(sent.refused)} mails refused, e.g. mail {first[0]}: {first[1]}")
    n_new = len(plan.new)
    missing = [i for i in range(n_new) if sent.acked_ns[i] and not watcher.seen_ns[i]]
    if missing:
        fail(f"{len(missing)} new mails got no acknowledgement, e.g. mail {missing[0]}")
    agents = [f.index for f in plan.all_followups() if f.kind is Kind.AGENT]
    lost = [i for i in agents if sent.acked_ns[i] and not watcher.seen_ns[i]]
    if lost:
        fail(f"{len(lost)} agent replies were not sent on to the requester")
    if watcher.unexpected:
        fail(f"{len(watcher.unexpected)} unexpected outbound mails, first: {watcher.unexpected[0]}")
    if len(tickets) != n_new or {t["requester"] for t in tickets} != {m.sender for m in plan.new}:
        fail(f"`mailbridge tickets --json` lists {len(tickets)} tickets for {n_new} new mails")
    misplaced = []
    for i, mail in enumerate(plan.new):
        ack = watcher.acks[i]
        ref = ack.ref if ack else None
        wanted = [(str(ArticleKind.INBOUND_REPLY), ref)]
        if articles.get(mail.message_id) != wanted:
            misplaced.append(f"{mail.message_id}: {articles.get(mail.message_id)}, not {wanted}")
        for f in plan.followups[i]:
            if not sent.acked_ns[f.index]:
                continue
            kind = ArticleKind.OUTBOUND_REPLY if f.kind is Kind.AGENT else ArticleKind.INBOUND_REPLY
            wanted = [(str(kind), ref)]
            if articles.get(f.message_id) != wanted:
                misplaced.append(f"{f.kind} {f.message_id}: {articles.get(f.message_id)}")
    if misplaced:
        fail(f"{len(misplaced)} mails not on their ticket (once), first: {misplaced[0]}")
    if not run.settled_ns:
        fail("the daemon never settled: intake or outbox still pending")
    errors = [c for c in complaints if '"level": "warning"' not in c]
    if errors:
        fail(f"the daemon logged {len(errors)} errors, first: {errors[0]}")
    if len(complaints) > len(errors):
        warn(f"the daemon logged {len(complaints) - len(errors)} warnings, first: {complaints[0]}")
    if len(worker_pids) > 1:
        warn(f"the worker was restarted: pids {worker_pids}")
    if run.under_auto_reply:
        forwarded = len(agents) - len(lost)
        warn(
            f"{run.under_auto_reply} of {forwarded} agent replies sent on name an auto-reply"
            " as their parent (In-Reply-To): clients thread them under the out-of-office"
        )


def print_run(r: Run) -> None:
    kinds = ", ".join(f"{k} {r.sent.get(str(k), 0)}" for k in Kind)
    print(f"  250s: {r.mails} ({kinds})")
    print(
        f"  outbound: {r.outbound_files} mails ({len(r.ack_ms)} acks,"
        f" {len(r.agent_ms)} agent replies sent on)"
    )
    last = (r.last_outbound_ns - r.first_send_ns) / 1e9 if r.last_outbound_ns else float("nan")
    settled = (r.settled_ns - r.first_send_ns) / 1e9 if r.settled_ns else float("nan")
    intake = (r.last_250_ns - r.first_send_ns) / 1e9
    print(
        f"  end to end: {r.mails} mails in {r.seconds:.2f}s = {r.e2e_rate:.0f} mails/s"
        f" (last 250 at {intake:.2f}s, last outbound {last:.2f}s, settled {settled:.2f}s)"
    )
    for name, values in (("ack", r.ack_ms), ("agent reply sent on", r.agent_ms)):
        if values:
            print(
                f"  250 -> {name}: p50 {percentile(values, 50):.1f} ms,"
                f" p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms"
            )
    print_usage(r)
    passed = (
        "checks: every mail on its ticket, one ack per new mail, one mail per agent reply,",
        "        nothing else sent, tickets --json count right, no errors logged: ok",
    )
    print_checks(r.warnings, r.failures, passed)


# ---------------------------------------------------------------- main


def print_summary(runs: Sequence[Run], ceiling_rate: float | None) -> None:
    print("\n== summary")
    header = (
        f"{'run':<20} {'mails':>5} {'new':>4} {'req':>4} {'agent':>5} {'auto':>4}"
        f" {'e2e/s':>6} {'vs ceil':>7} {'ack p50/p99 ms':>15} {'agent p50/p99 ms':>17}"
        f" {'RSS MB':>6}  checks"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        n = [r.sent.get(str(k), 0) for k in Kind]
        ratio = f"{r.e2e_rate / ceiling_rate:.2f}" if ceiling_rate and r.pace is None else ""
        ack = f"{percentile(r.ack_ms, 50):.0f} / {percentile(r.ack_ms, 99):.0f}"
        agent = f"{percentile(r.agent_ms, 50):.0f} / {percentile(r.agent_ms, 99):.0f}"
        print(
            f"{r.name:<20} {r.mails:>5} {n[0]:>4} {n[1]:>4} {n[2]:>5} {n[3]:>4}"
            f" {r.e2e_rate:>6.0f} {ratio:>7} {ack:>15} {agent:>17} {r.peak_rss / 2**20:>6.1f}"
            f"  {'FAILED' if r.failures else 'ok'}"
        )
    print("(e2e/s: all mails / first send to last notification seen and nothing pending;")
    print(" p50/p99: 250 -> ack, 250 -> agent reply sent on; RSS: peak of daemon + worker)")
    if ceiling_rate:
        print(f"ceiling (bare aiosmtpd + SQLite commit per mail, same mails): {ceiling_rate:.0f}/s")


def parse_mix(value: str) -> tuple[int, int, int, int]:
    parts = [int(p) for p in value.split(",")]
    if len(parts) != 4 or min(parts) < 0 or sum(parts) != 100 or max(parts[1:]) > parts[0]:
        raise argparse.ArgumentTypeError(
            "four percentages NEW,REQUESTER,AGENT,AUTO summing to 100, none above NEW"
        )
    return parts[0], parts[1], parts[2], parts[3]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_run_arguments(parser, mails=1500)
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=(40, 25, 20, 15),
        help="per cent of new mails, requester replies, agent replies, auto-replies"
        " (default 40,25,20,15)",
    )
    add_rate_argument(parser)
    parser.add_argument("--seed", type=int, default=1, help="seed of the plan and the mails")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if min(args.mails, args.connections, args.rate or 1) <= 0:
        parser.error("--mails, --connections and --rate must be positive")
    k = args.connections

    plan = make_plan(args.mails, args.mix, args.seed)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    runs: list[Run] = []
    ceiling_rate: float | None = None

    def keep(failed: bool) -> bool:  # a failed run: the daemon logs say what went wrong
        return bool(args.keep or args.py_spy or failed or any(r.failures for r in runs))

    with work_directory("mailbridge-conversation-", keep) as workdir:
        if not args.no_ceiling:
            ceiling_rate = run_ceiling(workdir, ceiling_mails(plan), k).e2e_rate
        for backend in backends:
            rate = args.rate
            if rate is None:
                best = run_backend(backend, workdir, plan, k, None, args.pg_url, args.py_spy)
                runs.append(best)
                if best.failures:
                    print(f"\n== {backend}: no paced run, the max-rate run failed")
                    continue
                rate = best.e2e_rate / 2
            paced = make_plan(args.mails, args.mix, args.seed + 1)
            runs.append(run_backend(backend, workdir, paced, k, rate, args.pg_url, args.py_spy))
    print_summary(runs, ceiling_rate)
    figures = {"ceiling": ceiling_rate, "runs": [dataclasses.asdict(r) for r in runs]}
    return finish(args.json, figures, failed=any(r.failures for r in runs))


if __name__ == "__main__":
    sys.exit(main())
