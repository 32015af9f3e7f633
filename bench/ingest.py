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
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from mailgen import QUEUE, Mail, make_mails
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5433/postgres"
ACK_POLL = 0.005  # seconds between scans of the Maildir's new/
RSS_POLL = 0.05  # seconds between RSS samples
IDLE_TIMEOUT = 60.0  # give up when no ack arrived for this long
BIN = Path(sys.executable).parent

# Targets from the issue (2 cores, 4 connections, durable before 250).
TARGET_RATE = {"sqlite": 400.0, "postgres": 300.0}
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 150.0


# ---------------------------------------------------------------- the client


@dataclass(slots=True)
class SendLog:
    started_ns: list[int]
    acked_ns: list[int]  # 0: no 250
    refused: dict[int, str] = field(default_factory=dict)


def send_all(
    port: int, mails: Sequence[Mail], connections: int, rate: float | None, host: str = "127.0.0.1"
) -> SendLog:
    """Send every mail over `connections` SMTP sessions (mail i on session i % K).

    With `rate`, mail i is due at start + i / rate (open loop: a late session
    sends at once rather than shifting the schedule)."""
    log = SendLog([0] * len(mails), [0] * len(mails))
    barrier = threading.Barrier(connections + 1)
    start: list[float] = [0.0]
    failures: list[BaseException] = []

    def session(lane: int) -> None:
        mine = mails[lane::connections]
        try:
            client = smtplib.SMTP(host, port, timeout=120)
        except OSError as error:
            failures.append(error)
            barrier.abort()
            return
        try:
            client.ehlo("client.bench.example")
            barrier.wait()
            for mail in mine:
                if rate is not None:
                    delay = start[0] + mail.index / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                log.started_ns[mail.index] = time.time_ns()
                try:
                    client.sendmail(mail.sender, [QUEUE], mail.raw)
                except smtplib.SMTPResponseException as error:
                    log.refused[mail.index] = f"{error.smtp_code} {error.smtp_error!r}"
                    continue
                log.acked_ns[mail.index] = time.time_ns()
            client.quit()
        except (OSError, smtplib.SMTPException, threading.BrokenBarrierError) as error:
            failures.append(error)
            with suppress(OSError):
                client.close()

    threads = [threading.Thread(target=session, args=(lane,)) for lane in range(connections)]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        start[0] = time.perf_counter() + 0.01
        barrier.wait()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"SMTP client failed: {failures[0]!r}")
    return log


# ---------------------------------------------------------------- watching acks

_IN_REPLY_TO = re.compile(rb"^In-Reply-To:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(rb"\r?\n[ \t]+")


class AckWatcher(threading.Thread):
    """Scans Maildir new/ every ACK_POLL seconds; maps each new file to its mail.

    Each file read is moved to cur/, as a mail reader would, so that the scan
    stays cheap and the benchmark's own CPU use does not grow with the run.
    """

    def __init__(self, maildir: Path, mails: Sequence[Mail]) -> None:
        super().__init__(name="ack-watcher", daemon=True)
        self.new = maildir / "new"
        self.cur = maildir / "cur"
        self.by_id = {m.message_id: m.index for m in mails}
        self.seen_ns = [0] * len(mails)
        self.mtime_ns = [0] * len(mails)
        self.stray = 0
        self.found = 0
        self.last_found = time.monotonic()
        self._names: set[str] = set()
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        while not self._halt.is_set():
            self.scan()
            self._halt.wait(ACK_POLL)
        self.scan()

    def scan(self) -> None:
        try:
            entries = os.scandir(self.new)
        except FileNotFoundError:
            return
        with entries:
            for entry in entries:
                if entry.name in self._names:
                    continue
                seen = time.time_ns()
                self._names.add(entry.name)
                try:
                    with open(entry.path, "rb") as fh:
                        head = fh.read(8192)
                    mtime = entry.stat().st_mtime_ns
                    # What a mail reader does: move what it has read to cur/. This keeps
                    # new/ short, so a scan costs the same for the 1st and the 2000th ack.
                    os.rename(entry.path, self.cur / f"{entry.name}:2,S")
                except FileNotFoundError:
                    continue
                match = _IN_REPLY_TO.search(_FOLD.sub(b" ", head.split(b"\r\n\r\n", 1)[0]))
                index = self.by_id.get(match.group(1).decode()) if match else None
                if index is None or self.seen_ns[index]:
                    self.stray += 1
                    continue
                self.seen_ns[index] = seen
                self.mtime_ns[index] = mtime
                self.found += 1
                self.last_found = time.monotonic()

    def wait_for(self, count: int) -> None:
        while self.found < count:
            if time.monotonic() - self.last_found > IDLE_TIMEOUT:
                print(f"  ! no acknowledgement for {IDLE_TIMEOUT:.0f}s; {self.found}/{count} seen")
                return
            time.sleep(0.02)


# ---------------------------------------------------------------- sampling the daemon


class RssSampler(threading.Thread):
    """Every RSS_POLL seconds: RSS of the daemon plus its worker child; keeps the max."""

    def __init__(self, pid: int, label: str = "daemon") -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.label = label
        self.root = psutil.Process(pid)
        self.peak = 0  # daemon + worker
        self.peak_tree = 0  # every process in the tree (also multiprocessing's resource tracker)
        self.cpu: dict[str, float] = {}
        self._worker: Any = None
        self.worker_pids: list[int] = []
        self._others: dict[int, Any] = {}
        self._halt = threading.Event()
        self._machine0 = machine_busy_seconds()
        self._cpu0 = {pid: _cpu_seconds(self.root)}  # CPU used before we started watching

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.cpu["machine"] = machine_busy_seconds() - self._machine0

    def _children(self) -> None:
        if self._worker is not None and not self._worker.is_running():
            self._worker = None  # died: the daemon starts another, which we then follow
        for child in self.root.children(recursive=True):
            if child.pid in self._others or (self._worker and child.pid == self._worker.pid):
                continue
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "spawn_main" in cmdline and self._worker is None:
                self._worker = child
                self.worker_pids.append(child.pid)
                # A worker already up when we start was started for this run: count from now.
                self._cpu0[child.pid] = _cpu_seconds(child) if len(self.worker_pids) == 1 else 0.0
            else:
                self._others[child.pid] = child

    def run(self) -> None:
        samples = 0
        while not self._halt.is_set():
            try:
                # Listing children walks all of /proc (~4 ms here): once a second is enough
                # to find a restarted worker; the RSS of known processes is read every time.
                if self._worker is None or samples % 20 == 0:
                    self._children()
                samples += 1
                daemon = self.root.memory_info().rss
                worker = 0
                if self._worker is not None:
                    try:
                        worker = self._worker.memory_info().rss
                    except psutil.Error:
                        self._worker = None  # gone: the next listing finds its successor
                        continue
                others = 0
                for proc in list(self._others.values()):
                    try:
                        others += proc.memory_info().rss
                    except psutil.Error:
                        self._others.pop(proc.pid, None)
                self.peak = max(self.peak, daemon + worker)
                self.peak_tree = max(self.peak_tree, daemon + worker + others)
                self.cpu[self.label] = _cpu_seconds(self.root) - self._cpu0[self.root.pid]
                if self._worker:
                    self.cpu["worker"] = _cpu_seconds(self._worker) - self._cpu0[self._worker.pid]
            except psutil.Error:
                pass
            self._halt.wait(RSS_POLL)

    @property
    def worker_pid(self) -> int | None:
        return int(self._worker.pid) if self._worker else None


# ---------------------------------------------------------------- servers under test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout}s:\n{tail(log)}")


def log_complaints(path: Path) -> list[str]:
    """Lines of the daemon's log at level warning or worse (it logs one JSON object a line)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            level = json.loads(line).get("level", "")
        except (ValueError, AttributeError):
            level = "error" if "Traceback" in line else ""
        if level in {"warning", "error", "critical"}:
            found.append(line[:300])
    return found


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def clean_env() -> dict[str, str]:
    """Our environment without MAILBRIDGE_* overrides, so only the config file counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def write_config(path: Path, database_url: str, port: int, maildir: Path) -> None:
    path.write_text(
        "[database]\n"
        f"url = {toml_str(database_url)}\n\n"
        "[smtp]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n\n"
        "[outbound]\n"
        'mode = "maildir"\n'
        f"maildir = {toml_str(str(maildir))}\n"
        f"from_address = {toml_str(QUEUE)}\n\n"
        "[[queues]]\n"
        f"address = {toml_str(QUEUE)}\n"
        'type = "incident"\n'
        'prefix = "INC"\n'
    )


@contextmanager
def daemon(config: Path, log: Path, port: int, *, migrate: bool) -> Iterator[int]:
    """Run `mailbridge run` until the block ends; yield its pid once SMTP and worker are up."""
    mailbridge = str(BIN / "mailbridge")
    env = clean_env()
    if migrate:
        subprocess.run(
            [mailbridge, "--config", str(config), "db", "upgrade"],
            check=True,
            env=env,
            capture_output=True,
            cwd=config.parent,
        )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [mailbridge, "--config", str(config), "run"],
            stdout=out,
            stderr=out,
            env=env,
            cwd=config.parent,  # the run's own directory: nothing there shadows the code
        )
    try:
        wait_for_port(port, proc, log, timeout=60)
        deadline = time.monotonic() + 60
        while b"worker.started" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the worker did not start:\n{tail(log)}")
            time.sleep(0.05)
        yield proc.pid
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of `admin_url`; dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


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


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


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


def _cpu_seconds(proc: Any) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle, over all cores."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def client_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def run_daemon(
    backend: str,
    workdir: Path,
    mails: Sequence[Mail],
    connections: int,
    rate: float | None,
    pg_url: str,
) -> Result:
    name = f"{backend} {'max rate' if rate is None else f'paced {rate:.0f}/s'}"
    print(f"\n== {name}: {len(mails)} mails over {connections} connections")
    case = workdir / f"{backend}-{'max' if rate is None else 'paced'}"
    case.mkdir()
    maildir = case / "outbox"
    port = free_port()
    config = case / "mailbridge.toml"
    log = case / "daemon.log"
    with (
        postgres_database(pg_url)
        if backend == "postgres"
        else _sqlite_url(case / "mailbridge.db") as url
    ):
        write_config(config, url, port, maildir)
        with daemon(config, log, port, migrate=backend == "postgres") as pid:
            sampler = RssSampler(pid)
            sampler.start()
            watcher = AckWatcher(maildir, mails)
            watcher.start()
            cpu0 = client_cpu_seconds()
            sent = send_all(port, mails, connections, rate)
            check_sent(sent)
            ok = [i for i, t in enumerate(sent.acked_ns) if t]
            print(f"  sent: {len(ok)} got 250, {len(sent.refused)} refused; waiting for acks")
            watcher.wait_for(len(ok))
            watcher.stop()
            watcher.join()
            client_cpu = client_cpu_seconds() - cpu0
            sampler.stop()
            print(f"  daemon pid {pid}, worker pid {sampler.worker_pid}, log {log}")
            if len(sampler.worker_pids) > 1:
                print(f"  ! the worker was restarted: pids {sampler.worker_pids}")
    complaints = log_complaints(log)
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


@contextmanager
def _sqlite_url(path: Path) -> Iterator[str]:
    yield f"sqlite:///{path}"


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
    print(
        f"  peak RSS: {r.peak_rss / 2**20:.1f} MB (whole process tree"
        f" {r.peak_rss_tree / 2**20:.1f} MB)"
    )
    cpu = ", ".join(f"{k} {v:.1f}s" for k, v in r.cpu.items() if k != "machine")
    print(
        f"  CPU: {cpu}, bench client {r.client_cpu:.1f}s; everything else on the machine"
        f" {other_cpu(r):.1f}s{' (mostly PostgreSQL)' if r.backend == 'postgres' else ''}"
    )


def other_cpu(r: Result) -> float:
    """CPU seconds the rest of the machine used during the run (PostgreSQL included)."""
    ours = sum(v for k, v in r.cpu.items() if k != "machine")
    return r.cpu.get("machine", 0.0) - ours - r.client_cpu


def code_revision() -> str:
    """Where the daemon's code comes from: its checkout, commit, and whether it is modified."""
    try:
        root = subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                "import mailbridge, pathlib;"
                " print(pathlib.Path(mailbridge.__file__).resolve().parent.parent)",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
            cwd="/",  # not ours: `python -c` would import a mailbridge/ in the current directory
        ).stdout.strip()
        git = ["git", "-C", root]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                *git,
                "status",
                "--porcelain",
                "--",
                "mailbridge",
                "parsers",
                "notifiers",
                "templates",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{root} at {head}{' + uncommitted changes' if dirty else ''}"


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
    parser.add_argument("--mails", type=int, default=2000, help="mails per run (default 2000)")
    parser.add_argument("--connections", type=int, default=4, help="SMTP sessions (default 4)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server to create a database on")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="only paced runs at this many mails/s (default: a max-rate run, then one at half)",
    )
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
    workdir = Path(tempfile.mkdtemp(prefix="mailbridge-bench-"))
    print(f"work directory: {workdir}")
    print(f"code under test: {code_revision()}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) before the first run: {load:.2f}")
    if load > 0.5:
        print("  ! the machine is not idle: other work competes with the daemon for the CPUs")
    results: list[Result] = []
    ceiling: Result | None = None
    try:
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
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_summary(results, ceiling)
    if args.json:
        runs = [*results, *([ceiling] if ceiling else [])]
        Path(args.json).write_text(json.dumps([dataclasses.asdict(r) for r in runs]))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
