"""The daemon: the SMTP receiver in this process, the worker in another.

Two cores, two jobs: receiving (asyncio, mostly I/O and fsync) and taking
mail into tickets (parsing: CPU). A worker process rather than a thread keeps
the parse off the receiver's GIL. They share only the database and a wake-up
event that the receiver sets after each commit, so the worker starts on a new
mail at once instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.synchronize
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from mailbridge import logging as mblogging
from mailbridge.adapters.group_commit import GroupCommitter
from mailbridge.adapters.smtp import IntakeHandler, make_server_factory
from mailbridge.clock import SystemClock
from mailbridge.doorbell import Doorbell, Listener
from mailbridge.errors import ConfigError
from mailbridge.ids import SecretsIds
from mailbridge.settings import Settings
from mailbridge.store import Store, open_store
from mailbridge.store.session import redacted
from mailbridge.store.spool import open_spool

log = logging.getLogger(__name__)


def worker_main(settings: Settings, reader: Connection) -> None:
    """Entry point of the worker process (and of the worker thread in thread mode)."""
    # Imported here, in the worker process: the receiver needs neither the
    # notifiers nor Jinja2 (a few MB of RSS each).
    from mailbridge.worker import Worker

    listener = Listener(reader)
    if multiprocessing.parent_process() is not None:
        mblogging.setup()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
        signal.signal(signal.SIGTERM, lambda _signum, _frame: listener.stop())
    store = Store(settings.database.url, pool_size=2, lock_timeout=settings.database.lock_timeout)
    spool = open_spool(store)
    worker = Worker(
        settings,
        store,
        clock=SystemClock(),
        ids=SecretsIds(),
        spool=spool,
        send_in_background=True,
    )
    log.info("worker.started")
    try:
        worker.run(listener.should_stop, listener.wait)
    finally:
        store.dispose()
        if spool is not None:
            spool.dispose()
        log.info("worker.stopped")


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT. Raises ConfigError on a bad database or port."""
    store = open_store(settings, migrate=True)
    spool = open_spool(store)
    try:
        # Receivers commit to the spool where there is one (SQLite), else to the store.
        asyncio.run(_serve(settings, spool or store, store))
    finally:
        store.dispose()
        if spool is not None:
            spool.dispose()


def _start_pollers(
    settings: Settings,
    store: Store,
    intake_store: Store,
    on_stored: Callable[[], None],
    stop: threading.Event,
) -> list[threading.Thread]:
    """One thread per [[imap]] mailbox, in this process: they only move bytes."""
    if not settings.imap:
        return []
    from mailbridge.adapters.imap import MailboxPoller  # imapclient only when configured

    threads = []
    for box in settings.imap:
        poller = MailboxPoller(
            box,
            settings,
            store=store,
            intake_store=intake_store,
            clock=SystemClock(),
            on_stored=on_stored,
            stop=stop,
        )
        thread = threading.Thread(target=poller.run, name=f"imap {box.key}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


async def _serve(settings: Settings, intake_store: Store, store: Store) -> None:
    loop = asyncio.get_running_loop()
    committer = GroupCommitter(intake_store, SystemClock())
    # A process by default: the parse runs on the second core, off the receiver's GIL.
    ctx = multiprocessing.get_context("spawn")
    kind = ctx.Process if settings.intake.worker == "process" else threading.Thread
    bell: Doorbell | None = None

    def start_worker() -> multiprocessing.process.BaseProcess | threading.Thread:
        nonlocal bell
        if bell is not None:
            bell.hang_up()
        reader, writer = ctx.Pipe(duplex=False)
        bell = Doorbell(writer)
        worker = kind(
            target=worker_main, args=(settings, reader), name="mailbridge-worker", daemon=True
        )
        worker.start()
        if kind is ctx.Process:
            reader.close()  # the child has its own copy; ours would hide the EOF
        return worker

    def ring(_record_id: int) -> None:
        if bell is not None:
            bell.ring()

    handler = IntakeHandler(settings, committer, on_stored=ring)
    try:
        server = await loop.create_server(
            make_server_factory(handler, settings), settings.smtp.host, settings.smtp.port
        )
    except OSError as error:
        raise ConfigError(
            "smtp.port",
            f"cannot listen on {settings.smtp.host}:{settings.smtp.port} ({error})",
            "pick a free port or stop what holds it",
            source=settings.source,
        ) from None
    worker = start_worker()
    stop_pollers = threading.Event()
    pollers = _start_pollers(settings, store, intake_store, lambda: ring(0), stop_pollers)
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    log.info(
        "daemon.ready",
        extra={
            "smtp": f"{settings.smtp.host}:{settings.smtp.port}",
            "database": redacted(settings.database.url),
            "outbound": settings.outbound.mode,
        },
    )
    try:
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=1.0)
            except TimeoutError:
                if not worker.is_alive():
                    log.error("worker.died", extra={"restarting": True})  # noqa: TRY400 -- no exception here
                    worker = start_worker()
    finally:
        stop_pollers.set()
        server.close()
        await server.wait_closed()
        for poller in pollers:
            await loop.run_in_executor(None, poller.join, 15)
        if bell is not None:
            bell.hang_up()
        await loop.run_in_executor(None, worker.join, 15)
        committer.close()
        log.info("daemon.stopped")
