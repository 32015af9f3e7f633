"""Real SMTP peers on loopback: our receiver in a thread, and a sink that records mail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailbridge.adapters.group_commit import GroupCommitter
from mailbridge.adapters.smtp import IntakeHandler, make_server_factory
from mailbridge.clock import SystemClock
from mailbridge.settings import Settings
from mailbridge.store import Store
from tests.support.ports import free_port


class _ReceiverController(Controller):
    def __init__(self, handler: IntakeHandler, settings: Settings, port: int) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port)
        self._factory = make_server_factory(handler, settings)

    def factory(self) -> SMTP:
        server: SMTP = self._factory()
        return server


@dataclass
class Receiver:
    port: int
    stored: list[int] = field(default_factory=list)


@contextmanager
def running_receiver(settings: Settings, store: Store) -> Iterator[Receiver]:
    """Our SMTP receiver (the daemon's handler) on a free loopback port."""
    port = free_port()
    receiver = Receiver(port=port)
    committer = GroupCommitter(store, SystemClock())
    handler = IntakeHandler(settings, committer, on_stored=receiver.stored.append)
    controller = _ReceiverController(handler, settings, port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
        committer.close()


@dataclass
class SinkMail:
    sender: str
    recipients: list[str]
    raw: bytes


class SinkHandler:
    """Records every mail; answers the next DATA with `fail_with` if set, and RCPT
    for an address in `refuse` with its answer ("450 4.2.1 busy", "550 5.1.1 no")."""

    def __init__(self) -> None:
        self.mails: list[SinkMail] = []
        self.fail_with: str | None = None
        self.refuse: dict[str, str] = {}
        self.lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 -- aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 -- aiosmtpd's hook name
        if self.fail_with is not None:
            return self.fail_with
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        with self.lock:
            self.mails.append(SinkMail(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 2.0.0 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[SinkHandler, int]]:
    """An aiosmtpd server that records what it is sent: the relay in delivery tests."""
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
