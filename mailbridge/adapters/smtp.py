"""The SMTP receiver: aiosmtpd in, intake record committed, then and only then 250.

RCPT for an address we do not serve is refused (550) before any data moves;
a message over the size limit is refused by aiosmtpd itself (552); a store
that cannot commit answers 451 so the sending MTA keeps the mail and retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailbridge.adapters.group_commit import GroupCommitter
from mailbridge.engine.intake import IncomingMail
from mailbridge.errors import TemporaryFailure
from mailbridge.settings import Settings

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100


class IntakeHandler:
    """aiosmtpd handler: the hook names are aiosmtpd's."""

    def __init__(
        self,
        settings: Settings,
        committer: GroupCommitter,
        on_stored: Callable[[int], None] = lambda _id: None,
    ) -> None:
        self.settings = settings
        self.committer = committer
        self.on_stored = on_stored

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.settings.queue_for(address) is None:
            return f"550 5.1.1 <{_printable(address)}>: no help desk queue at this address"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if not isinstance(raw, bytes):  # pragma: no cover - decode_data is False
            return "451 4.3.0 Internal error: no raw content"
        mail = IncomingMail(
            raw=raw,
            envelope_sender=envelope.mail_from or "",
            envelope_recipients=tuple(envelope.rcpt_tos),
            adapter="smtp",
        )
        try:
            record_id = await asyncio.wrap_future(self.committer.submit(mail))
        except TemporaryFailure as error:
            log.warning("smtp.deferred", extra={"error": str(error)})
            return "451 4.3.0 Cannot store the message right now, try again later"
        except Exception:
            log.exception("smtp.store_failed")
            return "451 4.3.0 Internal error, try again later"
        self.on_stored(record_id)
        log.debug("smtp.stored", extra={"intake_id": record_id, "bytes": len(raw)})
        return f"250 2.0.0 Queued as {record_id}"


def _printable(address: str) -> str:
    return "".join(c for c in address if c.isprintable() and c not in "<>")[:320]


def make_server_factory(handler: IntakeHandler, settings: Settings) -> Callable[[], Any]:
    """A protocol factory for loop.create_server: one aiosmtpd SMTP per connection."""

    def factory() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=settings.smtp.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.smtp.hostname,
            ident="mailbridge",
        )

    return factory
