"""The IMAP server's side of bench/imap.py: a private Dovecot, mail appended to it,
its folders counted, the CPU it used, and the ceiling, a bare imapclient loop that
takes the same mail off INBOX with nothing else to do.

Nothing here starts or reads the daemon.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from mailgen import Mail

sys.path.append(str(Path(__file__).resolve().parent.parent))  # tests.support, as pytest sees it
from tests.support.dovecot import Account, DovecotServer, running_dovecot

PROCESSED = "Processed"  # where the daemon moves what it took (its default)
STAGING = "Staging"  # where burst mode keeps the mail until it moves it to INBOX at once


@contextmanager
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot (plain IMAP on loopback), removed afterwards."""
    with running_dovecot(tls=False) as server:
        print(f"Dovecot: 127.0.0.1:{server.port}, {server.root}")
        yield server


# ---------------------------------------------------------------- the feed


def append_all(
    server: DovecotServer,
    account: Account,
    mails: Sequence[Mail],
    *,
    folder: str = "INBOX",
    rate: float | None = None,
) -> list[int]:
    """APPEND every mail over one connection; return when each APPEND's OK came
    (time_ns). With `rate`, mail i is due at start + i / rate (open loop: a late
    APPEND goes at once rather than shifting the schedule)."""
    done = [0] * len(mails)
    client = server.connect(account)
    try:
        start = time.perf_counter()
        for mail in mails:
            if rate is not None:
                delay = start + mail.index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            client.append(folder, mail.raw)
            done[mail.index] = time.time_ns()
    finally:
        client.logout()
    return done


def feed(
    server: DovecotServer, mails: Sequence[Mail], folder: str = "INBOX"
) -> tuple[Account, float]:
    """A fresh account with the mails in `folder`, and the append rate (mails/s)."""
    account = server.new_account()
    if folder != "INBOX":
        server.create_folder(account, folder)
    t0 = time.time_ns()
    done = append_all(server, account, mails, folder=folder)
    rate = len(mails) / ((done[-1] - t0) / 1e9)
    print(f"  feed: {len(mails)} mails appended to {folder} at {rate:.0f} mails/s")
    return account, rate


def move_all(server: DovecotServer, account: Account, source: str, target: str) -> float:
    """UID MOVE everything in `source` to `target` in one command; its seconds."""
    client = server.connect(account)
    try:
        client.select_folder(source)
        uids = client.search(["ALL"])
        started = time.perf_counter()
        client.move(uids, target)
        return time.perf_counter() - started
    finally:
        client.logout()


def folder_counts(server: DovecotServer, account: Account) -> tuple[int, int]:
    """Mails in INBOX and in Processed (0 if it does not exist)."""
    client = server.connect(account)
    try:
        inbox = client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"]
        processed = 0
        if client.folder_exists(PROCESSED):
            processed = client.folder_status(PROCESSED, [b"MESSAGES"])[b"MESSAGES"]
        return int(inbox), int(processed)
    finally:
        client.logout()


def dovecot_cpu_seconds(server: DovecotServer) -> float:
    """CPU seconds of Dovecot's processes so far: the live ones, and those its master
    has reaped (a session that ended). A process that ends between two readings
    brings in the CPU it used before the first."""
    total = 0.0
    for pid in server.processes():
        try:
            times = psutil.Process(pid).cpu_times()
            master = os.getpgid(pid) == pid  # Dovecot runs in a process group of its own
        except (psutil.Error, ProcessLookupError):
            continue
        total += times.user + times.system
        if master:
            total += times.children_user + times.children_system
    return total


# ---------------------------------------------------------------- the ceiling


@dataclass(slots=True)
class Ceiling:
    before: str  # the runs it was measured just before ("sqlite batch 50")
    batch_size: int
    mails: int
    append_rate: float
    fetch_s: float = 0.0
    commit_s: float = 0.0
    move_s: float = 0.0
    total_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.mails / self.total_s

    @property
    def rate_without_move(self) -> float:
        return self.mails / (self.total_s - self.move_s)


def run_ceiling(
    workdir: Path, server: DovecotServer, mails: Sequence[Mail], batch_size: int, before: str
) -> Ceiling:
    """SELECT, SEARCH, then per batch: UID FETCH BODY.PEEK[], the raw mails inserted
    into SQLite (WAL, synchronous=FULL) in one transaction, UID MOVE to Processed."""
    print(f"\n== ceiling, batch {batch_size}: bare FETCH + SQLite commit per batch + MOVE")
    account, append_rate = feed(server, mails)
    result = Ceiling(f"{before} batch {batch_size}", batch_size, len(mails), append_rate)
    db = sqlite3.connect(workdir / f"ceiling-{before}-{batch_size}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE mail (id INTEGER PRIMARY KEY, uid INTEGER, raw BLOB)")
    client = server.connect(account)
    try:
        client.create_folder(PROCESSED)
        started = time.perf_counter()
        client.select_folder("INBOX")
        uids = sorted(client.search(["ALL"]))
        for at in range(0, len(uids), batch_size):
            batch = uids[at : at + batch_size]
            t0 = time.perf_counter()
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            t1 = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO mail (uid, raw) VALUES (?, ?)",
                [(uid, fetched[uid][b"BODY[]"]) for uid in batch],
            )
            db.execute("COMMIT")
            t2 = time.perf_counter()
            client.move(batch, PROCESSED)
            t3 = time.perf_counter()
            result.fetch_s += t1 - t0
            result.commit_s += t2 - t1
            result.move_s += t3 - t2
        result.total_s = time.perf_counter() - started
    finally:
        client.logout()
        db.close()
    print(
        f"  {len(uids)} mails in {result.total_s:.2f}s = {result.rate:.0f} mails/s"
        f" (without the MOVE {result.rate_without_move:.0f}/s); FETCH {result.fetch_s:.2f}s,"
        f" COMMIT {result.commit_s:.2f}s, MOVE {result.move_s:.2f}s"
    )
    return result
