"""Group commit keeps serving after a sender gave up waiting for its 250."""

from __future__ import annotations

from mailbridge.adapters.group_commit import GroupCommitter
from mailbridge.clock import SystemClock
from mailbridge.engine.intake import IncomingMail
from mailbridge.store import Store


def _mail(n: int) -> IncomingMail:
    raw = f"From: a@example.org\r\nMessage-ID: <{n}@example.org>\r\n\r\nx\r\n".encode()
    return IncomingMail(
        raw=raw,
        envelope_sender="a@example.org",
        envelope_recipients=("helpdesk@example.org",),
        adapter="smtp",
    )


def test_a_cancelled_wait_does_not_stop_the_committer(store: Store) -> None:
    committer = GroupCommitter(store, SystemClock())
    try:
        # What asyncio.wrap_future does when aiosmtpd cancels the handler of a
        # client that hung up in the middle of DATA.
        abandoned = [committer.submit(_mail(n)) for n in range(20)]
        for future in abandoned:
            future.cancel()
        later = committer.submit(_mail(99))
        assert later.result(timeout=30) > 0
    finally:
        committer.close()
