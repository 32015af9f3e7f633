"""The receiver's wake-up call to the worker: a pipe, because a pipe survives either side dying.

A multiprocessing Event is a semaphore in shared memory: a process killed
while holding it leaves the other side blocked for good (the receiver hung in
`set()` after the worker was killed; an orphaned worker hung after SIGKILL of
the daemon). A pipe has no lock: ringing is one non-blocking write whose
errors we ignore, and when the ringing side is gone the listener reads EOF,
which means "stop after this batch".
"""

from __future__ import annotations

import contextlib
import os
import select
from multiprocessing.connection import Connection


class Doorbell:
    """The ringing side, kept by the daemon."""

    def __init__(self, writer: Connection) -> None:
        self._writer: Connection | None = writer
        os.set_blocking(writer.fileno(), False)

    def ring(self) -> None:
        """Tell the worker there is new mail; never blocks, never fails."""
        if self._writer is None:
            return
        # A full pipe already holds a ring; a broken one has no listener left.
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self._writer.fileno(), b"\x01")

    def hang_up(self) -> None:
        """Ask the worker to stop once its current batch is done."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Listener:
    """The listening side, kept by the worker."""

    def __init__(self, reader: Connection) -> None:
        self._fd = reader.fileno()
        self._reader = reader  # keeps the descriptor open
        self.hung_up = False

    def wait(self, seconds: float) -> None:
        """Sleep until rung, hung up, or `seconds` pass; swallow the rings that queued up."""
        ready, _, _ = select.select([self._fd], [], [], seconds)
        if ready:
            self._drain()

    def should_stop(self) -> bool:
        ready, _, _ = select.select([self._fd], [], [], 0)
        if ready:
            self._drain()
        return self.hung_up

    def stop(self) -> None:
        self.hung_up = True

    def _drain(self) -> None:
        try:
            if not os.read(self._fd, 65536):
                self.hung_up = True  # EOF: the daemon is gone or wants us to stop
        except BlockingIOError:
            pass
