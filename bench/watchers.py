"""Threads that watch a benchmark run from outside the daemon, cheaply enough not to
disturb it: the RSS and CPU sampler, the Maildir scanner that sees outbound mail
arrive (and its ack-matching kind), and py-spy on the daemon and its worker.
The database poll that sees tickets committed is in bench/ticket_watcher.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil
from harness import BIN, IDLE_TIMEOUT
from mailgen import Mail

SCAN_POLL = 0.005  # seconds between scans of a Maildir's new/
RSS_POLL = 0.05  # seconds between RSS samples


# ---------------------------------------------------------------- CPU and memory


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


# ---------------------------------------------------------------- what the daemon wrote


class Watcher(threading.Thread):
    """Looks every `poll` seconds, and once more when stopped; counts what it found
    (`found_one`) so that a run can wait for it and give up when nothing comes."""

    poll = SCAN_POLL
    what = "match"  # what it finds, for the complaint when nothing comes

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.found = 0
        self.last_found = time.monotonic()
        self._halt = threading.Event()

    def look(self) -> None:
        raise NotImplementedError

    def found_one(self) -> None:
        self.found += 1
        self.last_found = time.monotonic()

    def stop(self) -> None:
        """Stop after one last look."""
        self._halt.set()
        self.join()

    def stalled(self) -> bool:
        """Nothing found for IDLE_TIMEOUT seconds."""
        return time.monotonic() - self.last_found > IDLE_TIMEOUT

    def run(self) -> None:
        while not self._halt.is_set():
            self.look()
            self._halt.wait(self.poll)
        self.look()

    def wait_for(self, count: int) -> None:
        """Until `count` found, or nothing found for IDLE_TIMEOUT seconds."""
        while self.found < count:
            if self.stalled():
                print(f"  ! no {self.what} for {IDLE_TIMEOUT:.0f}s; {self.found}/{count} seen")
                return
            time.sleep(0.02)


class MaildirWatcher(Watcher):
    """Scans a Maildir's new/ every SCAN_POLL seconds and hands each new file to
    `arrived` with the time the scan first saw it.

    Each file read is moved to cur/, as a mail reader would, so that the scan
    stays cheap and the benchmark's own CPU use does not grow with the run.
    """

    head_bytes = 8192  # how much of each file `arrived` gets
    with_mtime = False  # also stat each file for `arrived`'s mtime_ns (else 0)

    def __init__(self, maildir: Path, name: str) -> None:
        super().__init__(name)
        self.new = maildir / "new"
        self.cur = maildir / "cur"
        self._names: set[str] = set()

    def arrived(self, name: str, head: bytes, seen_ns: int, mtime_ns: int) -> None:
        raise NotImplementedError

    def look(self) -> None:
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
                        head = fh.read(self.head_bytes)
                    mtime = entry.stat().st_mtime_ns if self.with_mtime else 0
                    # What a mail reader does: move what it has read to cur/. This keeps
                    # new/ short, so a scan costs the same for the 1st and the 2000th ack.
                    os.rename(entry.path, self.cur / f"{entry.name}:2,S")
                except FileNotFoundError:
                    continue
                self.arrived(entry.name, head, seen, mtime)


_IN_REPLY_TO = re.compile(rb"^In-Reply-To:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(rb"\r?\n[ \t]+")


class AckWatcher(MaildirWatcher):
    """Maps each acknowledgement in the Maildir to its mail by In-Reply-To; keeps the
    time it was first seen and the file's st_mtime_ns (set before the daemon's fsync
    and rename, on the kernel's coarse clock: a few ms early)."""

    with_mtime = True
    what = "acknowledgement"

    def __init__(self, maildir: Path, mails: Sequence[Mail]) -> None:
        super().__init__(maildir, name="ack-watcher")
        self.by_id = {m.message_id: m.index for m in mails}
        self.seen_ns = [0] * len(mails)
        self.mtime_ns = [0] * len(mails)
        self.stray = 0

    def arrived(self, name: str, head: bytes, seen_ns: int, mtime_ns: int) -> None:
        match = _IN_REPLY_TO.search(_FOLD.sub(b" ", head.split(b"\r\n\r\n", 1)[0]))
        index = self.by_id.get(match.group(1).decode()) if match else None
        if index is None or self.seen_ns[index]:
            self.stray += 1
            return
        self.seen_ns[index] = seen_ns
        self.mtime_ns[index] = mtime_ns
        self.found_one()


# ---------------------------------------------------------------- profiling


@contextmanager
def py_spy(sampler: RssSampler, case: Path) -> Iterator[None]:
    """`py-spy record` (100 Hz, by function, not pausing the process) on the daemon and
    its worker for the block; prints where each spent its time."""
    deadline = time.monotonic() + 5
    while sampler.worker_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    spies = []
    for name, pid in (("daemon", sampler.root.pid), ("worker", sampler.worker_pid)):
        if pid is None:
            continue
        out = case / f"py-spy-{name}.txt"
        cmd = ["record", "--pid", str(pid), "--format", "raw", "--function", "--nonblocking"]
        spy = subprocess.Popen(
            [str(BIN / "py-spy"), *cmd, "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        spies.append((name, out, spy))
    time.sleep(0.5)  # let py-spy attach
    try:
        yield
    finally:
        for name, out, spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
            print_profile(name, out)


_OURS = ("mailbridge/", "notifiers/", "parsers/")


def print_profile(name: str, path: Path, top: int = 14) -> None:
    """Our functions by share of samples on the stack (leaving out the entry frames,
    on nearly every stack), and the packages the innermost frames are in."""
    inclusive: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    total = 0
    with suppress(OSError):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f.partition(" (")[::2] for f in stack.split(";")]  # (function, file:line)
            total += int(count)
            innermost[frames[-1][1].split("/")[0].split(".py")[0]] += int(count)
            for ours in {
                f"{fn} ({loc.split(':')[0]})" for fn, loc in frames if loc.startswith(_OURS)
            }:
                inclusive[ours] += int(count)
    print(f"  py-spy {name}: {total} samples, kept in {path}")
    shown = [(f, n) for f, n in inclusive.most_common() if n < 0.85 * total][:top]
    for frame, n in shown:
        print(f"    {100 * n / max(total, 1):5.1f}%  {frame}")
    packages = ", ".join(f"{p} {100 * n / max(total, 1):.0f}%" for p, n in innermost.most_common(6))
    print(f"    innermost frames in: {packages}")
