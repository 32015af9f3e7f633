"""IMAP benchmark: mail in a Dovecot INBOX read by the daemon's poller and made tickets.

What is measured, per backend (a SQLite file; a fresh PostgreSQL database) and per
`batch_size` of the `[[imap]]` mailbox (`--batch-size`, default 50 and 200):

* A private Dovecot on loopback (tests/support/dovecot.py: plain IMAP, IDLE,
  MOVE, UIDPLUS; Maildir with `mail_fsync = never`), one fresh account per run.
  The feed: N mailgen mails (~5 KB, human, each with its own Message-ID and
  Return-Path) APPENDed one after the other over one IMAP connection; its rate is
  printed (feed/s), since no mode can go faster than the mail comes in.
* The real daemon (`mailbridge --config FILE run` with its worker process),
  configured as in bench/ingest.py plus one `[[imap]]` table: that account on
  127.0.0.1, `tls = "none"`, `since = "all"`, `after = "move"` (to Processed),
  `batch_size = B`, `queue` the help desk's address, IDLE (Dovecot has it). Each
  mail makes a ticket and an acknowledgement (to a Maildir nobody reads here).
* Three modes (`--mode`, default all):
  - backlog: the N mails are in INBOX before the daemon starts. Timed from the
    daemon process's start to the last ticket, so the start (imports, migrations,
    spawning the worker: 2-4 s here) is in it; the time from the worker's
    `worker.started` is printed too. The poller starts before the worker and takes
    mail into intake meanwhile, so neither figure is the pipeline's rate.
  - burst: the N mails wait in a folder Staging of the account while the daemon
    starts and settles into IDLE; then one UID MOVE puts them all into INBOX. Timed
    from that MOVE to the last ticket: the rate of a warm daemon turning a full
    INBOX into tickets, poller and worker working at once. This is the throughput
    figure, compared with the ceiling.
  - live: the daemon waits in IDLE on an empty INBOX; mails are APPENDed open loop
    at a steady rate R (mail i due at i / R; default half the burst rate of the
    same backend and batch size, `--rate` to set it), min(N, R x `--live-seconds`)
    of them. Latency per mail, p50 and p99 (nearest rank), from its APPEND's OK
    to its ticket: to the ticket's `created_at` (the worker's clock as it began the
    batch, before the commit: a lower bound) and to the ticket first seen committed
    by the bench's 20 ms poll of the database (an upper bound); and, to split it,
    to its intake record's `received_at` (the poller's clock at the intake commit).
    Dovecot's CPU then includes serving the APPENDs.
* A ticket counts when its inbound article (the mail's Message-ID) can be read:
  the bench queries for new ones every 20 ms. After the last one it waits until
  nothing is pending (intake, the SQLite spool included, and outbox: `backlog` of
  tests/support/helpdesk_state.py) and INBOX is empty. Peak RSS: daemon + worker,
  the 50 ms sampler of bench/watchers.py, started once the worker is up (the
  poller is a thread of the daemon process). CPU: daemon, worker, Dovecot, the
  bench, and the rest of the machine (PostgreSQL, other people's work).
* Checks, each FAILED loudly (exit status 1): N tickets, each Message-ID on one
  ticket only; N intake records, none pending; INBOX empty and N mails in
  Processed; no warning or error in the daemon's log.

The ceiling, measured just before the runs of each backend and batch size: the
same N mails appended to a fresh account's INBOX, then taken off it by a bare
imapclient loop in this process that does only what the poller must do to take
mail durably: SELECT, SEARCH, then per batch of B: UID FETCH BODY.PEEK[], the raw
mails inserted into a SQLite file (WAL, synchronous=FULL) and committed once for
the batch, UID MOVE to Processed. No parsing, no intake record, no ticket, no
acknowledgement. Its rate without the MOVEs is printed too. The burst rate is
printed as a fraction of it.

Run: `.venv/bin/python bench/imap.py [--mails N] [--backend sqlite|postgres|both]
[--batch-size B ...] [--mode backlog|burst|live|all] [--rate R] [--pg-url URL]
[--py-spy] [--keep] [--json PATH]`; loopback only. The work directory (configs,
daemon logs, databases) is kept when a check fails or the run breaks.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    Case,
    add_output_arguments,
    add_rate_argument,
    add_run_arguments,
    daemon,
    daemon_case,
    finish,
    log_complaints,
    log_time,
    percentile,
    print_checks,
    print_usage,
    toml_str,
    work_directory,
)
from imap_peer import (
    PROCESSED,
    STAGING,
    Ceiling,
    append_all,
    dovecot,
    dovecot_cpu_seconds,
    feed,
    folder_counts,
    move_all,
    run_ceiling,
)
from mailgen import QUEUE, Mail, make_mails
from sqlalchemy import func, select
from ticket_watcher import TicketWatcher
from watchers import RssSampler, client_cpu_seconds, py_spy

from mailbridge.store import Store
from mailbridge.store.models import Article, ArticleKind, IntakeRecord, IntakeStatus, Ticket
from tests.support.dovecot import Account, DovecotServer
from tests.support.helpdesk_state import backlog

MODES = ("backlog", "burst", "live")
SETTLE_TIMEOUT = 60.0


# ---------------------------------------------------------------- a run


@dataclass(slots=True)
class Run:
    name: str
    backend: str
    mode: str  # one of MODES
    batch_size: int
    mails: int
    pace: float | None  # live: the APPEND rate aimed at
    feed_rate: float  # APPENDs per second as they went
    start_ns: int  # backlog: daemon process started; burst: the MOVE; live: first APPEND
    worker_ns: int  # the daemon's worker.started
    done_ns: int  # last ticket seen committed
    settled_ns: int  # nothing pending and INBOX empty; 0: never
    tickets: int
    ceiling: float | None = None  # the ceiling's rate, same batch size, measured just before
    early: int = 0  # backlog: mails in intake when the worker started
    received_ms: list[float] = field(default_factory=list)  # APPEND -> intake received_at
    created_ms: list[float] = field(default_factory=list)  # APPEND -> ticket created_at
    seen_ms: list[float] = field(default_factory=list)  # APPEND -> ticket seen committed
    peak_rss: int = 0
    peak_rss_tree: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    client_cpu: float = 0.0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.done_ns - self.start_ns) / 1e9

    @property
    def rate(self) -> float:
        return self.tickets / self.seconds if self.done_ns else math.nan


def imap_table(server: DovecotServer, account: Account, batch_size: int) -> str:
    return (
        "\n[[imap]]\n"
        f"host = {toml_str(server.host)}\n"
        f"port = {server.port}\n"
        'tls = "none"\n'
        f"user = {toml_str(account.user)}\n"
        f"password = {toml_str(account.password)}\n"
        f"queue = {toml_str(QUEUE)}\n"
        'since = "all"\n'
        'after = "move"\n'
        f"processed_folder = {toml_str(PROCESSED)}\n"
        f"batch_size = {batch_size}\n"
    )


def run_daemon(
    workdir: Path,
    server: DovecotServer,
    backend: str,
    batch_size: int,
    mode: str,
    mails: Sequence[Mail],
    rate: float | None,
    pg_url: str,
    profile: bool,
) -> Run:
    name = f"{backend} batch {batch_size} {mode}" + (f" {rate:.0f}/s" if rate else "")
    print(f"\n== {name}: {len(mails)} mails")
    if mode == "live":
        account, feed_rate = server.new_account(), 0.0
    else:
        account, feed_rate = feed(server, mails, STAGING if mode == "burst" else "INBOX")
    appended: list[int] = []
    extra = imap_table(server, account, batch_size)
    with daemon_case(workdir / f"{backend}-{batch_size}-{mode}", backend, pg_url, extra) as case:
        store = Store(case.url, pool_size=1)
        try:
            start_ns = time.time_ns()
            with daemon(case) as pid:
                sampler = RssSampler(pid)
                sampler.start()
                watcher = TicketWatcher(store, mails)
                with py_spy(sampler, case.root) if profile else nullcontext():
                    cpu0, dovecot0 = client_cpu_seconds(), dovecot_cpu_seconds(server)
                    if mode != "backlog":
                        _wait_idle(case)
                    watcher.start()
                    if mode == "burst":
                        start_ns = time.time_ns()
                        took = move_all(server, account, STAGING, "INBOX")
                        print(f"  {len(mails)} mails moved into INBOX in one MOVE ({took:.2f}s)")
                    elif mode == "live":
                        start_ns = time.time_ns()
                        appended = append_all(server, account, mails, rate=rate)
                        feed_rate = len(mails) / ((appended[-1] - start_ns) / 1e9)
                        print(f"  appended at {feed_rate:.0f} mails/s; waiting for tickets")
                    watcher.wait_for(len(mails))
                    watcher.stop()
                    settled_ns = _wait_settled(store, server, account)
                    client_cpu = client_cpu_seconds() - cpu0
                    sampler.stop()
                    sampler.cpu["Dovecot"] = dovecot_cpu_seconds(server) - dovecot0
                print(f"  daemon pid {pid}, worker pid {sampler.worker_pid}, log {case.log}")
            run = Run(
                name=name,
                backend=backend,
                mode=mode,
                batch_size=batch_size,
                mails=len(mails),
                pace=rate,
                feed_rate=feed_rate,
                start_ns=start_ns,
                worker_ns=log_time(case.log, "worker.started"),
                done_ns=max(watcher.seen_ns),
                settled_ns=settled_ns,
                tickets=watcher.found,
                peak_rss=sampler.peak,
                peak_rss_tree=sampler.peak_tree,
                cpu=dict(sampler.cpu),
                client_cpu=client_cpu,
            )
            run.early = sum(1 for t in watcher.received_ns if 0 < t < run.worker_ns)
            if appended:
                seen = [i for i in range(len(mails)) if watcher.seen_ns[i]]
                run.received_ms = [(watcher.received_ns[i] - appended[i]) / 1e6 for i in seen]
                run.created_ms = [(watcher.created_ns[i] - appended[i]) / 1e6 for i in seen]
                run.seen_ms = [(watcher.seen_ns[i] - appended[i]) / 1e6 for i in seen]
            check(run, case, store, server, account, watcher, sampler.worker_pids)
        finally:
            store.dispose()
    print_run(run)
    return run


def _wait_idle(case: Case) -> None:
    """Until the poller has connected and looked at the empty INBOX once."""
    deadline = time.monotonic() + 30
    while not log_time(case.log, "imap.connected"):
        if time.monotonic() > deadline:
            raise RuntimeError("the IMAP poller did not connect within 30 s")
        time.sleep(0.05)
    time.sleep(0.5)  # its first pass over the empty INBOX, then IDLE


def _wait_settled(store: Store, server: DovecotServer, account: Account) -> int:
    """When nothing was pending in the database and INBOX was empty; 0: never."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if backlog(store).settled and folder_counts(server, account)[0] == 0:
            return time.time_ns()
        time.sleep(0.05)
    print(f"  ! not settled after {SETTLE_TIMEOUT:.0f}s: {backlog(store)}")
    return 0


def check(
    run: Run,
    case: Case,
    store: Store,
    server: DovecotServer,
    account: Account,
    watcher: TicketWatcher,
    worker_pids: list[int],
) -> None:
    """Fill run.failures (the run is wrong) and run.warnings (worth a look)."""
    fail, warn = run.failures.append, run.warnings.append
    with store.reading() as session:
        tickets = session.scalar(select(func.count()).select_from(Ticket)) or 0
        statuses = session.execute(
            select(IntakeRecord.status, func.count()).group_by(IntakeRecord.status)
        ).all()
        tickets_per_message = session.execute(
            select(func.count(func.distinct(Article.ticket_id)))
            .where(Article.kind == ArticleKind.INBOUND_REPLY)
            .group_by(Article.message_id)
        ).scalars()
        twice = sum(1 for n in tickets_per_message if n > 1)
    if tickets != run.mails or watcher.found != run.mails:
        fail(f"{tickets} tickets ({watcher.found} for our mails) for {run.mails} mails")
    if twice or watcher.strays:
        fail(f"{twice} Message-IDs on more than one ticket, {watcher.strays} stray articles")
    records = {str(status): n for status, n in statuses}
    if sum(records.values()) != run.mails or records.get(str(IntakeStatus.PENDING)):
        fail(f"{sum(records.values())} intake records for {run.mails} mails: {records}")
    inbox, processed = folder_counts(server, account)
    if inbox or processed != run.mails:
        fail(f"{inbox} mails left in INBOX, {processed} in {PROCESSED} (want 0, {run.mails})")
    if not run.settled_ns:
        fail("never settled: intake or outbox still pending, or mail left in INBOX")
    complaints = log_complaints(case.log)
    if complaints:
        fail(f"the daemon logged {len(complaints)} warnings or errors, first: {complaints[0]}")
    if len(worker_pids) > 1:
        warn(f"the worker was restarted: pids {worker_pids}")


def print_run(r: Run) -> None:
    settled = (r.settled_ns - r.done_ns) / 1e9 if r.settled_ns else math.nan
    since = {"backlog": "the daemon's start", "burst": "the MOVE", "live": "the first APPEND"}
    print(
        f"  INBOX -> ticket: {r.tickets} tickets {r.seconds:.2f}s after {since[r.mode]}"
        f" = {r.rate:.0f} mails/s (settled {settled:.2f}s after the last ticket)"
    )
    if r.mode == "backlog":
        worker = (r.worker_ns - r.start_ns) / 1e9
        after = r.tickets / ((r.done_ns - r.worker_ns) / 1e9)
        print(
            f"  worker started after {worker:.2f}s, {r.early} mails already in intake;"
            f" from then {after:.0f} tickets/s"
        )
    latencies = (
        ("intake received_at", r.received_ms),
        ("ticket created_at ", r.created_ms),
        ("ticket seen        ", r.seen_ms),
    )
    for label, values in latencies:
        if values:
            print(
                f"  APPEND -> {label}: p50 {percentile(values, 50):4.0f} ms,"
                f" p99 {percentile(values, 99):4.0f} ms, max {max(values):4.0f} ms"
            )
    print_usage(r, note=" (PostgreSQL, other work)" if r.backend == "postgres" else "")
    passed = (
        "checks: one ticket per mail, none twice, no intake pending, INBOX empty,",
        f"        all in {PROCESSED}, no warning logged: ok",
    )
    print_checks(r.warnings, r.failures, passed)


# ---------------------------------------------------------------- main


def print_summary(runs: Sequence[Run], ceilings: Sequence[Ceiling]) -> None:
    print("\n== summary")
    header = (
        f"{'run':<30} {'mails':>5} {'feed/s':>6} {'tickets/s':>9} {'vs ceil':>7}"
        f" {'created p50/p99 ms':>18} {'seen p50/p99 ms':>15} {'RSS MB':>6}  checks"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        ratio = f"{r.rate / r.ceiling:.2f}" if r.ceiling and r.mode == "burst" else ""
        created = seen = ""
        if r.seen_ms:
            created = f"{percentile(r.created_ms, 50):.0f} / {percentile(r.created_ms, 99):.0f}"
            seen = f"{percentile(r.seen_ms, 50):.0f} / {percentile(r.seen_ms, 99):.0f}"
        print(
            f"{r.name:<30} {r.mails:>5} {r.feed_rate:>6.0f} {r.rate:>9.0f} {ratio:>7}"
            f" {created:>18} {seen:>15} {r.peak_rss / 2**20:>6.1f}"
            f"  {'FAILED' if r.failures else 'ok'}"
        )
    print("(tickets/s: N / from the daemon's start (backlog), the MOVE into INBOX (burst) or")
    print(" the first APPEND (live) to the last ticket committed; created / seen: APPEND ->")
    print(" ticket created_at / first seen committed; RSS: peak of daemon + worker;")
    print(" vs ceil: burst rate / the ceiling with the same batch size, measured just before)")
    for c in ceilings:
        print(
            f"ceiling before {c.before} (bare FETCH + SQLite commit + MOVE): {c.rate:.0f}/s,"
            f" without the MOVEs {c.rate_without_move:.0f}/s (feed {c.append_rate:.0f}/s)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_run_arguments(parser, mails=1000, smtp=False)
    parser.add_argument(
        "--batch-size",
        type=int,
        action="append",
        help="the mailbox's batch_size; repeat for several (default 50 and 200)",
    )
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    add_rate_argument(
        parser, "live mode's APPEND rate, mails/s (default: half the burst run's rate, else 50)"
    )
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=30.0,
        help="a live run appends at most rate x this many mails (default 30)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the mail generator")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    sizes = args.batch_size or [50, 200]
    if min(args.mails, args.live_seconds, args.rate or 1, *sizes) <= 0:
        parser.error("--mails, --batch-size, --rate and --live-seconds must be positive")

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    modes = MODES if args.mode == "all" else (args.mode,)
    runs: list[Run] = []
    ceilings: list[Ceiling] = []

    def keep(failed: bool) -> bool:  # a failed run: the daemon logs say what went wrong
        return bool(args.keep or args.py_spy or failed or any(r.failures for r in runs))

    with work_directory("mailbridge-imap-", keep) as workdir, dovecot() as server:
        for backend in backends:
            for size in sizes:
                ceiling = None
                if not args.no_ceiling:
                    mails = make_mails(args.mails, args.seed)
                    ceilings.append(run_ceiling(workdir, server, mails, size, backend))
                    ceiling = ceilings[-1].rate
                rate = args.rate
                for mode in modes:
                    count = args.mails
                    if mode == "live":
                        rate = rate or 50.0
                        count = min(args.mails, max(1, math.ceil(rate * args.live_seconds)))
                    mails = make_mails(count, args.seed)
                    run = run_daemon(
                        workdir,
                        server,
                        backend,
                        size,
                        mode,
                        mails,
                        rate if mode == "live" else None,
                        args.pg_url,
                        args.py_spy,
                    )
                    run.ceiling = ceiling
                    runs.append(run)
                    if mode == "burst" and args.rate is None and not run.failures:
                        rate = run.rate / 2
    print_summary(runs, ceilings)
    figures = {
        "ceilings": [dataclasses.asdict(c) for c in ceilings],
        "runs": [dataclasses.asdict(r) for r in runs],
    }
    return finish(args.json, figures, failed=any(r.failures for r in runs))


if __name__ == "__main__":
    sys.exit(main())
