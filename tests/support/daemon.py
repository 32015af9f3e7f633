"""The daemon as a real process, for end-to-end tests: config file, start, stop, kill, CLI.

End-to-end tests drive mailbridge the way an admin does: a TOML file, `mailbridge
--config FILE run` in a working directory, `mailbridge ... tickets --json` to look.
Nothing of ours is imported into the daemon or mocked. The daemon spawns a worker
process (and multiprocessing a resource tracker); a test that SIGKILLs the daemon
must still not leak them, so every process the daemon starts is remembered with
psutil while it is alive and reaped (or reported) when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from mailbridge.store import Store
from tests.support.ports import wait_for_port, wait_until

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
CLI_TIMEOUT = 60.0


def mailbridge_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m mailbridge.cli`.

    The console script is what users run; the module form keeps the tests working
    from a venv whose scripts were not installed.
    """
    script = Path(sys.executable).with_name("mailbridge")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "mailbridge.cli"]


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any MAILBRIDGE_* variable, plus `overrides`.

    A developer's MAILBRIDGE_CONFIG or MAILBRIDGE_SMTP_PORT must not leak into
    the daemon under test and silently change what the test means.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env.update(overrides)
    return env


@dataclass(frozen=True, slots=True)
class Queue:
    address: str
    type: str
    prefix: str


def write_config(
    path: Path,
    *,
    database_url: str,
    smtp_port: int,
    maildir: Path,
    from_address: str,
    queues: Sequence[Queue],
    agents: Sequence[tuple[str, str]] = (),
    extra: str = "",
) -> Path:
    """Write a daemon config as an admin would: one TOML file, outbound to a Maildir.

    `agents` are (address, name) pairs working every queue; `extra` is TOML
    appended as is (say, a [tickets] section).
    """

    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    lines = [
        "[database]",
        f"url = {q(database_url)}",
        "",
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        "",
        "[outbound]",
        'mode = "maildir"',
        f"maildir = {q(str(maildir))}",
        f"from_address = {q(from_address)}",
        "",
    ]
    for queue in queues:
        lines += [
            "[[queues]]",
            f"address = {q(queue.address)}",
            f"type = {q(queue.type)}",
            f"prefix = {q(queue.prefix)}",
            "",
        ]
    for address, name in agents:
        lines += ["[[agents]]", f"address = {q(address)}", f"name = {q(name)}", ""]
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


def port_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


class DaemonProcess:
    """One `mailbridge run` process and everything it spawned.

    Output goes to a log file in the test's directory, so a failing test can
    show what the daemon said without pipes that could fill up and block it.
    """

    def __init__(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], port: int, log: Path
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.port = port
        self.log_path = log
        self._log: IO[bytes] | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._seen: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int:
        return self._running().pid

    def _running(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError("the daemon was not started")
        return self._popen

    def start(self) -> DaemonProcess:
        """Start the daemon and return once it answers on its SMTP port and runs its worker.

        Fails at once, with the daemon's own words, if it exits instead.
        """
        self._log = open(self.log_path, "ab")  # noqa: SIM115 -- closed in close()
        self._popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        popen = self._popen
        wait_until(
            lambda: popen.poll() is not None or port_answers(self.port), timeout=STARTUP_TIMEOUT
        )
        if popen.poll() is not None:
            raise AssertionError(
                f"the daemon exited with {popen.returncode} instead of listening on "
                f"{self.port}:\n{self.log_tail()}"
            )
        wait_for_port(self.port, timeout=STARTUP_TIMEOUT)
        # The worker is spawned right after the listener opens; remember it now so a
        # SIGKILL later cannot hide it from the teardown.
        wait_until(self._workers, timeout=STARTUP_TIMEOUT)
        return self

    def remember_children(self) -> int:
        """Record every live descendant of the daemon; return how many it has now."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        for child in children:
            self._seen.setdefault(child.pid, child)
        return len(children)

    def _workers(self) -> list[psutil.Process]:
        # multiprocessing's spawn children; the other child is its resource tracker.
        self.remember_children()
        workers = []
        for child in self.descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.is_running() and any("spawn_main" in a for a in child.cmdline()):
                    workers.append(child)
        return workers

    def worker(self) -> psutil.Process:
        """The daemon's worker process (the config must keep intake.worker = "process")."""
        workers = self._workers()
        assert len(workers) == 1, f"expected one worker, found {workers}"
        return workers[0]

    @property
    def descendants(self) -> list[psutil.Process]:
        """Every process the daemon was seen to have spawned, alive or not."""
        return list(self._seen.values())

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, as systemd stops it; return the exit code. Kills if it hangs."""
        popen = self._running()
        if popen.poll() is None:
            self.remember_children()
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
                raise AssertionError(
                    f"the daemon ignored SIGTERM for {timeout}s:\n{self.log_tail()}"
                ) from None
        return popen.returncode

    def kill(self) -> None:
        """SIGKILL the daemon (not its children): a crash, or the OOM killer."""
        popen = self._running()
        self.remember_children()
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait()

    def kill_all(self) -> None:
        """SIGKILL the daemon and everything it spawned: for a daemon found hung."""
        self.remember_children()
        if self.is_running():
            self.kill()
        for process in self.descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(self.descendants, timeout=5)

    def leftovers(self, timeout: float) -> list[psutil.Process]:
        """Descendants still alive after waiting up to `timeout` seconds for them to exit."""
        _gone, alive = psutil.wait_procs(self.descendants, timeout=timeout)
        return list(alive)

    def close(self, grace: float = 10.0) -> list[str]:
        """Make sure the daemon and everything it spawned are gone.

        Returns a description of each descendant that outlived the daemon by
        more than `grace` seconds (and had to be killed), so the caller can fail.
        """
        leaked: list[str] = []
        if self._popen is not None:
            if self._popen.poll() is None:
                try:
                    self.stop()
                except AssertionError as error:
                    leaked.append(str(error))
            for process in self.leftovers(grace):
                try:
                    leaked.append(f"pid {process.pid}: {' '.join(process.cmdline())}")
                    process.kill()
                except psutil.NoSuchProcess:
                    continue
            psutil.wait_procs(self.descendants, timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return leaked

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def used_no_cpu(process: psutil.Process, window: float = 0.3) -> bool:
    """Whether the process used no CPU time over `window` seconds: asleep, waiting for work.

    The worker idles between polls nearly all the time; a test that must strike
    it there (not mid-batch) waits for this first, without relying on how the
    worker waits.
    """
    try:
        times = process.cpu_times()
        before: float = times.user + times.system
        time.sleep(window)
        times = process.cpu_times()
        after: float = times.user + times.system
    except psutil.NoSuchProcess:
        return False
    return after == before


def run_cli(
    *args: str, config: Path | None, cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one `mailbridge` command as a user would; `--config` goes before the command."""
    argv = mailbridge_command()
    if config is not None:
        argv += ["--config", str(config)]
    argv += args
    return subprocess.run(
        argv,
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def cli_json(*args: str, config: Path | None, cwd: Path, env: Mapping[str, str]) -> Any:
    """Run a `--json` command, insist on exit 0, return the decoded output."""
    result = run_cli(*args, "--json", config=config, cwd=cwd, env=env)
    assert result.returncode == 0, (
        f"mailbridge {' '.join(args)} --json exited {result.returncode}:\n{result.stderr}"
    )
    return json.loads(result.stdout)


class Installation:
    """One mailbridge installation in a test directory: config, port, Maildir, database.

    The test directory is the daemon's working directory, as `./dev run` would
    have it, so relative paths in the embedded defaults land inside it.
    `config=None` means no config file at all: embedded defaults plus `env`.
    """

    def __init__(
        self,
        root: Path,
        *,
        config: Path | None,
        port: int,
        maildir: Path,
        database_url: str,
        env: Mapping[str, str],
    ) -> None:
        self.root = root
        self.config = config
        self.port = port
        self.maildir = maildir
        self.database_url = database_url
        self.env = dict(env)
        self.daemons: list[DaemonProcess] = []
        self._stores: list[Store] = []

    def start_daemon(self) -> DaemonProcess:
        """Start `mailbridge [--config FILE] run` here; return once it serves SMTP."""
        argv = mailbridge_command()
        if self.config is not None:
            argv += ["--config", str(self.config)]
        argv.append("run")
        daemon = DaemonProcess(
            argv,
            cwd=self.root,
            env=self.env,
            port=self.port,
            log=self.root / f"daemon-{len(self.daemons) + 1}.log",
        )
        self.daemons.append(daemon)
        return daemon.start()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, config=self.config, cwd=self.root, env=self.env)

    def cli_json(self, *args: str) -> Any:
        return cli_json(*args, config=self.config, cwd=self.root, env=self.env)

    def store(self) -> Store:
        """A Store on the daemon's database, for reading what it wrote; disposed at close."""
        store = Store(self.database_url)
        self._stores.append(store)
        return store

    def close(self) -> list[str]:
        """Stop every daemon and reap their children; return what leaked (now killed)."""
        leaked: list[str] = []
        for daemon in self.daemons:
            leaked += daemon.close()
        for store in self._stores:
            store.dispose()
        return leaked
