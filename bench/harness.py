"""What every daemon benchmark needs around the daemon: a work directory, a fresh
database, a config, the daemon process itself, SMTP client sessions, and the
figures' small helpers (percentiles, CPU and RSS lines, the code under test).

The threads that watch a run (RSS sampler, Maildir scanner, py-spy) are in
bench/watchers.py. Nothing here measures or decides anything about a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from mailgen import QUEUE, Mail
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.append(str(Path(__file__).resolve().parent.parent))  # tests.support, as pytest sees it
from tests.support import ports
from tests.support.ports import free_port as free_port  # for the benches, re-exported

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5433/postgres"
IDLE_TIMEOUT = 60.0  # give up when nothing arrived for this long
BIN = Path(sys.executable).parent

# ---------------------------------------------------------------- command line


def add_run_arguments(parser: argparse.ArgumentParser, *, mails: int, smtp: bool = True) -> None:
    """--mails, --connections (with `smtp`), --backend, --pg-url."""
    parser.add_argument("--mails", type=int, default=mails, help=f"mails per run (default {mails})")
    if smtp:
        parser.add_argument("--connections", type=int, default=4, help="SMTP sessions (default 4)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server to create a database on")


def add_rate_argument(parser: argparse.ArgumentParser, text: str = "") -> None:
    """--rate, explained by `text` (default: what ingest and conversation do with it)."""
    default = "only paced runs at this many mails/s (default: a max-rate run, then one at half)"
    parser.add_argument("--rate", type=float, default=None, help=text or default)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--no-ceiling, --keep, --json, --py-spy, for a bench that checks its runs."""
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling run")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (always kept after a failure)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every run's figures here")
    parser.add_argument(
        "--py-spy", action="store_true", help="profile daemon and worker (kept in the work dir)"
    )


def finish(json_path: str | None, figures: object, *, failed: bool) -> int:
    """Write the figures to `json_path` (if given); the exit status: 1 if a run failed."""
    if json_path:
        Path(json_path).write_text(json.dumps(figures))
        print(f"figures written to {json_path}")
    if failed:
        print("FAILED: see the lines marked FAILED above")
        return 1
    return 0


# ---------------------------------------------------------------- the work directory


@contextmanager
def work_directory(prefix: str, keep: Callable[[bool], bool]) -> Iterator[Path]:
    """A fresh directory for the runs' configs, logs and databases. Prints it, the code
    under test and how busy the machine is; afterwards removes it unless keep(failed)
    (failed: the block raised)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    print(f"work directory: {workdir}")
    print(f"code under test: {code_revision()}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) before the first run: {load:.2f}")
    if load > 0.5:
        print("  ! the machine is not idle: other work competes with the daemon for the CPUs")
    failed = False
    try:
        yield workdir
    except BaseException:
        failed = True
        raise
    finally:
        if keep(failed):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


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


# ---------------------------------------------------------------- database and config


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


def clean_env() -> dict[str, str]:
    """Our environment without MAILBRIDGE_* overrides, so only the config file counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def write_config(path: Path, database_url: str, port: int, maildir: Path, extra: str = "") -> None:
    """SMTP on loopback, acks to a Maildir, one incident queue; `extra` appended as it is."""
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
        f"{extra}"
    )


def run_name(backend: str, rate: float | None) -> tuple[str, str]:
    """A run's name in the output and its directory's: ("sqlite paced 40/s", "sqlite-paced")."""
    name = f"{backend} {'max rate' if rate is None else f'paced {rate:.0f}/s'}"
    return name, f"{backend}-{'max' if rate is None else 'paced'}"


@dataclass(frozen=True, slots=True)
class Case:
    """One daemon run: its directory, database URL, config, log, Maildir and SMTP port."""

    root: Path
    url: str
    port: int

    @property
    def config(self) -> Path:
        return self.root / "mailbridge.toml"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def maildir(self) -> Path:
        return self.root / "outbox"

    @property
    def postgres(self) -> bool:
        return self.url.startswith("postgresql")


@contextmanager
def daemon_case(root: Path, backend: str, pg_url: str, extra_config: str = "") -> Iterator[Case]:
    """Make `root` with a config on a fresh database (a SQLite file in `root`, or a new
    PostgreSQL database on the server of `pg_url`, dropped afterwards)."""
    root.mkdir()
    port = free_port()
    with postgres_database(pg_url) if backend == "postgres" else _sqlite_url(root) as url:
        case = Case(root, url, port)
        write_config(case.config, url, port, case.maildir, extra_config)
        yield case


@contextmanager
def _sqlite_url(directory: Path) -> Iterator[str]:
    yield f"sqlite:///{directory / 'mailbridge.db'}"


# ---------------------------------------------------------------- the daemon


@contextmanager
def daemon(case: Case) -> Iterator[int]:
    """Run `mailbridge run` until the block ends; yield its pid once SMTP and worker are up."""
    mailbridge = str(BIN / "mailbridge")
    config, log = case.config, case.log
    env = clean_env()
    if case.postgres:
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
        wait_for_port(case.port, proc, log, timeout=60)
        deadline = time.monotonic() + 60
        while b"worker.started" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the worker did not start:\n{tail(log)}")
            time.sleep(0.05)
        yield proc.pid
    finally:
        stop_process(proc)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until something answers on `port`; raises at once if `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            ports.wait_for_port(port, timeout=0.25)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"nothing answers on 127.0.0.1:{port} after {timeout}s:\n{tail(log)}"
                ) from None
        else:
            return


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def log_time(log: Path, event: str) -> int:
    """When the daemon first logged `event` (time_ns, from its "ts"); 0: never."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            return round(datetime.fromisoformat(record["ts"]).timestamp() * 1e9)
    return 0


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- SMTP clients


@dataclass(slots=True)
class SendLog:
    started_ns: list[int]
    acked_ns: list[int]  # 0: no 250
    refused: dict[int, str] = field(default_factory=dict)

    def send(self, client: smtplib.SMTP, mail: Mail, rcpt: str) -> bool:
        """Send `mail` on the session, timing it from MAIL FROM to the 250; a refusal is
        recorded and returns False."""
        self.started_ns[mail.index] = time.time_ns()
        try:
            client.sendmail(mail.sender, [rcpt], mail.raw)
        except smtplib.SMTPResponseException as error:
            self.refused[mail.index] = f"{error.smtp_code} {error.smtp_error!r}"
            return False
        self.acked_ns[mail.index] = time.time_ns()
        return True


def smtp_sessions(
    port: int,
    connections: int,
    send: Callable[[smtplib.SMTP, int], None],
    *,
    on_start: Callable[[float], None],
    on_failure: Callable[[], None] = lambda: None,
    watch: Callable[[], None] = lambda: None,
    host: str = "127.0.0.1",
) -> None:
    """Run `send(client, lane)` on `connections` SMTP sessions (lane 0..K-1), all
    released together after EHLO. `on_start` gets the perf_counter time they are
    released at, before they are; `watch` runs every 0.1 s until they are done.
    Raises RuntimeError with the first session's failure."""
    barrier = threading.Barrier(connections + 1)
    failures: list[BaseException] = []

    def session(lane: int) -> None:
        try:
            client = smtplib.SMTP(host, port, timeout=120)
        except OSError as error:
            failures.append(error)
            barrier.abort()
            return
        try:
            client.ehlo("client.bench.example")
            barrier.wait()
            send(client, lane)
            client.quit()
        except (OSError, smtplib.SMTPException, threading.BrokenBarrierError) as error:
            failures.append(error)
            on_failure()
            with suppress(OSError):
                client.close()

    threads = [threading.Thread(target=session, args=(lane,)) for lane in range(connections)]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        on_start(time.perf_counter() + 0.01)
        barrier.wait()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.1)
            watch()
    if failures:
        raise RuntimeError(f"SMTP client failed: {failures[0]!r}")


# ---------------------------------------------------------------- figures


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


class Usage(Protocol):
    """What a run used: peak RSS (daemon + worker, and the whole process tree) and CPU
    seconds by process, with "machine" the whole machine's busy time."""

    @property
    def peak_rss(self) -> int: ...
    @property
    def peak_rss_tree(self) -> int: ...
    @property
    def cpu(self) -> Mapping[str, float]: ...
    @property
    def client_cpu(self) -> float: ...


def other_cpu(u: Usage) -> float:
    """CPU seconds the rest of the machine used during the run (PostgreSQL included)."""
    ours = sum(v for k, v in u.cpu.items() if k != "machine")
    return u.cpu.get("machine", 0.0) - ours - u.client_cpu


def print_checks(warnings: Sequence[str], failures: Sequence[str], passed: Sequence[str]) -> None:
    """A run's warnings and failures, or the `passed` lines when none failed."""
    for line in warnings:
        print(f"  ! {line}")
    for line in failures:
        print(f"  FAILED: {line}")
    if not failures:
        for line in passed:
            print(f"  {line}")


def print_usage(u: Usage, *, others: str = "everything else", note: str = "") -> None:
    """The peak RSS line and the CPU line: each process, the bench client, the rest."""
    print(
        f"  peak RSS: {u.peak_rss / 2**20:.1f} MB (whole process tree"
        f" {u.peak_rss_tree / 2**20:.1f} MB)"
    )
    cpu = ", ".join(f"{k} {v:.1f}s" for k, v in u.cpu.items() if k != "machine")
    print(f"  CPU: {cpu}, bench client {u.client_cpu:.1f}s; {others} {other_cpu(u):.1f}s{note}")
