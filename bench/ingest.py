"""Ingest benchmark: SMTP in, ticket made, acknowledgement written, as fast as it goes.

What is measured, per backend (a SQLite file; a fresh PostgreSQL database):

* The real daemon (`mailbridge --config FILE run`, a subprocess with its worker
  process) receives N realistic ~5 KB human mails (multipart/alternative, each
  with its own Message-ID and From) over K concurrent SMTP connections, each
  connection one `smtplib.SMTP` session sending its share in turn. The time of
  every 250 is recorded. Every mail is durable before its 250: that is the
  daemon's contract (raw bytes and intake record committed).
* Each mail makes a ticket and an acknowledgement, delivered to a Maildir. A
  watcher thread scans `new/` every 5 ms with `os.scandir`, reads each new file,
  maps it back to its mail by `In-Reply-To` and moves it to `cur/` as a mail
  reader would (so a scan stays cheap however many acks came before). The time
  an ack is *first seen* by that scan is its arrival time: an upper bound, late
  by at most one poll interval plus one scan. The file's `st_mtime_ns` is kept
  as a cross-check; it is set before the daemon's fsync and rename and comes
  from the kernel's coarse clock, so it reads a few ms early.
* Throughput is end to end: first send to last acknowledgement seen. Latency is
  from a mail's 250 to its acknowledgement, p50 and p99. Peak RSS is the max over
  50 ms samples (psutil) of the daemon's RSS plus its worker process's RSS
  (multiprocessing's resource tracker, ~13 MB, is reported apart).
* A throughput run sends as fast as the connections allow. A latency run then
  paces the sends at half the measured throughput (open loop: mail i is due at
  i / R), on a fresh database, to see the latency of a daemon that keeps up. It
  sends min(N, R x 60 s) mails so that a slow daemon still ends in time.

The ceiling is a bare aiosmtpd server (a subprocess, like the daemon) whose DATA
handler does only what the daemon must do before its 250: commit the raw mail to
SQLite (WAL, synchronous=FULL, one INSERT + COMMIT per mail, on one writer
thread so the event loop keeps reading while it fsyncs). No parsing, no ticket,
no acknowledgement. Driven by the same client with the same N and K on the same
machine, it is the rate of durable, commit-per-mail SMTP intake alone here: the
SMTP protocol work plus one fsync'd commit per mail, with nothing else competing
for the two cores. A daemon that also takes every mail into a ticket and
answers it, and commits each mail on its own at receipt, cannot beat it (one
that grouped several mails into one commit could); our end-to-end throughput is
printed as a fraction of it.

Run: `.venv/bin/python bench/ingest.py [--mails N] [--connections K]
[--backend sqlite|postgres|both] [--pg-url URL] [--rate R]`; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import signal
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    SendLog,
    add_rate_argument,
    add_run_arguments,
    daemon,
    daemon_case,
    free_port,
    log_complaints,
    other_cpu,
    percentile,
    print_usage,
    run_name,
    smtp_sessions,
    stop_process,
    wait_for_port,
    work_directory,
)
from mailgen import QUEUE, Mail, make_mails
from watchers import AckWatcher, RssSampler, client_cpu_seconds

# Targets from the issue (2 cores, 4 connections, durable before 250).
TARGET_RATE = {"sqlite": 400.0, "postgres": 300.0}
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 150.0


# ---------------------------------------------------------------- the client


def send_all(
    port: int, mails: Sequence[Mail], connections: int, rate: float | None, host: str = "127.0.0.1"
) -> SendLog:
    """Send every mail over `connections` SMTP sessions (mail i on session i % K).

    With `rate`, mail i is due at start + i / rate (open loop: a late session
    sends at once rather than shifting the schedule)."""
    log = SendLog([0] * len(mails), [0] * len(mails))
    start: list[float] = [0.0]

    def released(at: float) -> None:
        start[0] = at

    def send(client: smtplib.SMTP, lane: int) -> None:
        for mail in mails[lane::connections]:
            if rate is not None:
                delay = start[0] + mail.index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            log.send(client, mail, QUEUE)

    smtp_sessions(port, connections, send, on_start=released, host=host)
    return log


# ---------------------------------------------------------------- the ceiling server


class CeilingHandler:
    """aiosmtpd handler: one INSERT + COMMIT per mail (WAL, synchronous=FULL), then 250."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS mail (id INTEGER PRIMARY KEY, received_at REAL,"
            " mail_from TEXT, rcpt_tos TEXT, raw BLOB)"
        )
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ceiling-writer")

    def store(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> int:
        self.db.execute("BEGIN IMMEDIATE")
        cursor = self.db.execute(
            "INSERT INTO mail (received_at, mail_from, rcpt_tos, raw) VALUES (?, ?, ?, ?)",
            (time.time(), mail_from, json.dumps(rcpt_tos), raw),
        )
        self.db.execute("COMMIT")
        return int(cursor.lastrowid or 0)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 -- aiosmtpd's name
        loop = asyncio.get_running_loop()
        rowid = await loop.run_in_executor(
            self.writer,
            self.store,
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            envelope.original_content,
        )
        return f"250 2.0.0 Queued as {rowid}"


def serve_ceiling(path: Path, port: int) -> None:
    """Entry point of the ceiling subprocess: serve until SIGTERM."""
    from aiosmtpd.controller import Controller

    handler = CeilingHandler(path)
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=False)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: done.set())
    controller.start()
    try:
        done.wait()
    finally:
        controller.stop()
        handler.writer.shutdown(wait=True)
        handler.db.close()


# ---------------------------------------------------------------- runs and figures


def check_sent(sent: SendLog) -> None:
    """Refuse to compute figures when the server took no mail at all."""
    if not any(sent.acked_ns):
        reason = next(iter(sent.refused.values()), "no answer")
        raise RuntimeError(f"the server accepted none of the mails; first refusal: {reason}")


@dataclass(slots=True)
class Result:
    name: str
    backend: str
    mails: int
    connections: int
    rate: float | None  # target send rate; None: as fast as possible
    sent_ok: int
    refused: int
    first_send_ns: int
    last_250_ns: int
    last_ack_ns: int = 0
    acked: int = 0
    smtp_ms: list[float] = field(default_factory=list)  # MAIL FROM sent -> 250 after DATA
    latencies_ms: list[float] = field(default_factory=list)
    latency_at_s: list[float] = field(default_factory=list)  # when each latency's 250 came
    mtime_latencies_ms: list[float] = field(default_factory=list)
    peak_rss: int = 0
    peak_rss_tree: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    client_cpu: float = 0.0

    @property
    def intake_rate(self) -> float:
        return self.sent_ok / ((self.last_250_ns - self.first_send_ns) / 1e9)

    @property
    def e2e_rate(self) -> float:
        if not self.last_ack_ns:
            return self.intake_rate
        return self.acked / ((self.last_ack_ns - self.first_send_ns) / 1e9)

    def p(self, pct: float, *, mtime: bool = False) -> float:
        return percentile(self.mtime_latencies_ms if mtime else self.latencies_ms, pct)


def base_result(
    name: str,
    backend: str,
    connections: int,
    rate: float | None,
    sent: SendLog,
    sampler: RssSampler,
    client_cpu: float,
) -> Result:
    ok = [i for i, t in enumerate(sent.acked_ns) if t]
    return Result(
        name=name,
        backend=backend,
        mails=len(sent.acked_ns),
        connections=connections,
        rate=rate,
        sent_ok=len(ok),
        refused=len(sent.refused),
        first_send_ns=min(t for t in sent.started_ns if t),
        last_250_ns=max(sent.acked_ns),
        smtp_ms=[(sent.acked_ns[i] - sent.started_ns[i]) / 1e6 for i in ok],
        peak_rss=sampler.peak,
        peak_rss_tree=sampler.peak_tree,
        cpu=dict(sampler.cpu),
        client_cpu=client_cpu,
    )


def run_daemon(
    backend: str,
    workdir: Path,
    mails: Sequence[Mail],
    connections: int,
    rate: float | None,
    pg_url: str,
) -> Result:
    name, directory = run_name(backend, rate)
    print(f"\n== {name}: {len(mails)} mails over {connections} connections")
    with daemon_case(workdir / directory, backend, pg_url) as case, daemon(case) as pid:
        sampler = RssSampler(pid)
        sampler.start()
        watcher = AckWatcher(case.maildir, mails)
        watcher.start()
        cpu0 = client_cpu_seconds()
        sent = send_all(case.port, mails, connections, rate)
        check_sent(sent)
        ok = [i for i, t in enumerate(sent.acked_ns) if t]
        print(f"  sent: {len(ok)} got 250, {len(sent.refused)} refused; waiting for acks")
        watcher.wait_for(len(ok))
        watcher.stop()
        client_cpu = client_cpu_seconds() - cpu0
        sampler.stop()
        print(f"  daemon pid {pid}, worker pid {sampler.worker_pid}, log {case.log}")
        if len(sampler.worker_pids) > 1:
            print(f"  ! the worker was restarted: pids {sampler.worker_pids}")
    complaints = log_complaints(case.log)
    if complaints:
        print(f"  ! the daemon logged {len(complaints)} warnings or errors, first: {complaints[0]}")
    result = base_result(name, backend, connections, rate, sent, sampler, client_cpu)
    acked = [i for i in ok if watcher.seen_ns[i]]
    result.acked = len(acked)
    result.last_ack_ns = max((watcher.seen_ns[i] for i in acked), default=0)
    result.latencies_ms = [(watcher.seen_ns[i] - sent.acked_ns[i]) / 1e6 for i in acked]
    result.latency_at_s = [(sent.acked_ns[i] - result.first_send_ns) / 1e9 for i in acked]
    result.mtime_latencies_ms = [(watcher.mtime_ns[i] - sent.acked_ns[i]) / 1e6 for i in acked]
    if sent.refused:
        first = next(iter(sent.refused.items()))
        print(f"  ! {len(sent.refused)} refused, e.g. mail {first[0]}: {first[1]}")
    if watcher.stray:
        print(f"  ! {watcher.stray} files in new/ did not match a mail (or matched twice)")
    print_result(result)
    return result


def run_ceiling(workdir: Path, mails: Sequence[Mail], connections: int) -> Result:
    print(f"\n== ceiling: bare aiosmtpd + SQLite commit per mail, {len(mails)} mails")
    case = workdir / "ceiling"
    case.mkdir()
    port = free_port()
    log = case / "ceiling.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-ceiling",
                str(case / "ceiling.db"),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=out,
        )
    try:
        wait_for_port(port, proc, log, timeout=30)
        sampler = RssSampler(proc.pid, label="server")
        sampler.start()
        cpu0 = client_cpu_seconds()
        sent = send_all(port, mails, connections, None)
        client_cpu = client_cpu_seconds() - cpu0
        sampler.stop()
    finally:
        stop_process(proc)
    check_sent(sent)
    result = base_result("ceiling", "sqlite", connections, None, sent, sampler, client_cpu)
    print_result(result)
    return result


def print_result(r: Result) -> None:
    secs = (r.last_250_ns - r.first_send_ns) / 1e9
    print(f"  intake: {r.sent_ok} x 250 in {secs:.2f}s = {r.intake_rate:.0f} mails/s")
    print(
        f"  SMTP transaction (MAIL FROM -> 250): p50 {percentile(r.smtp_ms, 50):.1f} ms,"
        f" p99 {percentile(r.smtp_ms, 99):.1f} ms"
    )
    if r.last_ack_ns:
        e2e = (r.last_ack_ns - r.first_send_ns) / 1e9
        print(f"  end to end: {r.acked} acks in {e2e:.2f}s = {r.e2e_rate:.0f} mails/s")
        print(
            f"  250 -> ack (first seen by 5 ms scan): p50 {r.p(50):.1f} ms, p99 {r.p(99):.1f} ms,"
            f" max {max(r.latencies_ms):.1f} ms"
        )
        print(
            f"  250 -> ack (file st_mtime):          p50 {r.p(50, mtime=True):.1f} ms,"
            f" p99 {r.p(99, mtime=True):.1f} ms"
        )
    pg = " (mostly PostgreSQL)" if r.backend == "postgres" else ""
    print_usage(r, others="everything else on the machine", note=pg)


def print_summary(results: Sequence[Result], ceiling: Result | None) -> None:
    print("\n== summary")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    )
    header = (
        f"{'run':<24} {'mails':>5} {'conn':>4} {'250/s':>6} {'e2e/s':>6} {'p50 ms':>8}"
        f" {'p99 ms':>8} {'RSS MB':>7} {'vs ceil':>7} {'other CPU s':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in [*results, *([ceiling] if ceiling else [])]:
        ratio = (
            f"{r.e2e_rate / ceiling.e2e_rate:.2f}"
            if ceiling and r is not ceiling and r.rate is None
            else ""
        )
        p50 = f"{r.p(50):.1f}" if r.latencies_ms else "-"
        p99 = f"{r.p(99):.1f}" if r.latencies_ms else "-"
        print(
            f"{r.name:<24} {r.sent_ok:>5} {r.connections:>4} {r.intake_rate:>6.0f}"
            f" {r.e2e_rate:>6.0f} {p50:>8} {p99:>8} {r.peak_rss / 2**20:>7.1f} {ratio:>7}"
            f" {other_cpu(r):>11.1f}"
        )
    print("(250/s: first send to last 250; e2e/s: first send to last ack; p50/p99: 250 -> ack;")
    print(" RSS: peak of daemon + worker; other CPU: everything else on the machine, incl. PG)")
    print("\ntargets from the issue:")
    for backend in dict.fromkeys(r.backend for r in results):
        runs = [r for r in results if r.backend == backend]
        for r in runs:
            if r.rate is None:
                want = TARGET_RATE[backend]
                verdict = "met" if r.e2e_rate >= want else "MISSED"
                print(
                    f"  {backend:8} throughput {r.e2e_rate:6.0f} mails/s  >= {want:.0f}: {verdict}"
                )
            else:
                verdict = "met" if r.p(99) < TARGET_P99_MS else "MISSED"
                print(
                    f"  {backend:8} p99 at {r.rate:.0f}/s {r.p(99):6.0f} ms"
                    f"     < {TARGET_P99_MS:.0f}: {verdict}"
                )
        rss = max(r.peak_rss for r in runs) / 2**20
        verdict = "met" if rss < TARGET_RSS_MB else "MISSED"
        print(f"  {backend:8} peak RSS   {rss:6.0f} MB       < {TARGET_RSS_MB:.0f}: {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_run_arguments(parser, mails=2000)
    add_rate_argument(parser)
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=60.0,
        help="a paced run sends at most rate x this many mails (default 60)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", metavar="PATH", help="also write every run's figures here")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mail generator")
    parser.add_argument("--serve-ceiling", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ceiling:
        serve_ceiling(Path(args.serve_ceiling), args.port)
        return 0
    rate_ok = args.rate is None or args.rate > 0
    if min(args.mails, args.connections, args.paced_seconds) <= 0 or not rate_ok:
        parser.error("--mails, --connections, --rate and --paced-seconds must be positive")

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[Result] = []
    ceiling: Result | None = None
    with work_directory("mailbridge-bench-", keep=lambda _failed: bool(args.keep)) as workdir:
        if not args.no_ceiling:
            ceiling = run_ceiling(workdir, make_mails(args.mails, args.seed), args.connections)
        for backend in backends:
            rate = args.rate
            if rate is None:
                mails = make_mails(args.mails, args.seed)
                best = run_daemon(backend, workdir, mails, args.connections, None, args.pg_url)
                results.append(best)
                rate = best.e2e_rate / 2
            # A paced run lasts mails / rate: cap it so a slow daemon still ends in time.
            count = min(args.mails, max(args.connections, math.ceil(rate * args.paced_seconds)))
            mails = make_mails(count, args.seed + 1)
            results.append(run_daemon(backend, workdir, mails, args.connections, rate, args.pg_url))
    print_summary(results, ceiling)
    if args.json:
        runs = [*results, *([ceiling] if ceiling else [])]
        Path(args.json).write_text(json.dumps([dataclasses.asdict(r) for r in runs]))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
