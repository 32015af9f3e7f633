"""Group commit for receivers: mails arriving together are committed together.

Each commit costs an fsync (about a millisecond here, more on a busy disk),
and a 250 may only be sent after it. One writer thread takes whatever mails
are waiting, commits them in one transaction and then releases all their
250s: under load, one fsync answers several connections; alone, a mail waits
for nothing. All or nothing: if the commit fails, every mail in it gets 451.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from concurrent.futures import Future, InvalidStateError

from mailbridge.clock import Clock
from mailbridge.engine.intake import IncomingMail, receive_many
from mailbridge.store import Store

log = logging.getLogger(__name__)

MAX_GROUP = 64


class GroupCommitter:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._waiting: queue.SimpleQueue[tuple[IncomingMail, Future[int]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, mail: IncomingMail) -> Future[int]:
        """Queue a mail; the future holds its intake id once committed, or the error."""
        future: Future[int] = Future()
        self._waiting.put((mail, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        self._waiting.put(None)
        self._thread.join()

    def _run(self) -> None:
        # This thread must outlive any error: if it died, every later 250 would hang.
        while True:
            first = self._waiting.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[IncomingMail, Future[int]]]) -> None:
        # A sender that hung up cancelled its future; its mail is committed all the
        # same (it will retry, and the dedupe absorbs the copy), but its future
        # cannot be set any more (InvalidStateError).
        try:
            ids = receive_many(self._store, [mail for mail, _ in group], self._clock)
        except Exception as error:  # noqa: BLE001 -- every waiting sender must hear of it
            for _, future in group:
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(error)
            return
        for (_, future), record_id in zip(group, ids, strict=True):
            with contextlib.suppress(InvalidStateError):
                future.set_result(record_id)
