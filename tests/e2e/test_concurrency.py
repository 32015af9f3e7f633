"""Many senders at once: every mail accepted becomes exactly one ticket with its own ref.

Refs are numbered inside each ticket's transaction (engine/tickets.py); this
is where a race between concurrent receivers, the worker and the database would
show up as a gap, a duplicate ref, or a mail without its acknowledgement.
"""

from __future__ import annotations

import pytest

from tests.support.daemon import Installation
from tests.support.helpdesk_state import (
    backlog,
    intake_statuses,
    outbox_statuses,
    tickets_by_inbound_message_id,
)
from tests.support.mailflow import count_maildir_new, maildir_new, new_mail, send_concurrently
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

CLIENTS = 8
MAILS_PER_CLIENT = 25
TOTAL = CLIENTS * MAILS_PER_CLIENT
SETTLE_TIMEOUT = 60.0


def test_two_hundred_concurrent_mails_make_two_hundred_tickets(
    installation: Installation,
) -> None:
    installation.start_daemon()
    batches = [
        [
            new_mail(c * MAILS_PER_CLIENT + i, to="helpdesk@example.org")
            for i in range(MAILS_PER_CLIENT)
        ]
        for c in range(CLIENTS)
    ]

    log = send_concurrently(installation.port, batches)

    assert log.failures == []
    assert len(log.accepted) == TOTAL
    store = installation.store()
    wait_until(
        lambda: count_maildir_new(installation.maildir) >= TOTAL and backlog(store).settled,
        timeout=SETTLE_TIMEOUT,
        interval=0.25,
    )

    tickets = installation.cli_json("tickets")
    refs = [t["ref"] for t in tickets]
    assert sorted(refs, key=lambda r: int(r.split("-")[1])) == [
        f"INC-{n}" for n in range(1001, 1001 + TOTAL)
    ]
    by_message_id = tickets_by_inbound_message_id(store)
    sent_ids = {m.message_id for m in log.accepted}
    assert set(by_message_id) == sent_ids
    assert all(len(refs) == 1 for refs in by_message_id.values())
    assert intake_statuses(store) == {"processed": TOTAL}
    assert outbox_statuses(store) == {"sent": TOTAL}

    acks = maildir_new(installation.maildir)
    assert len(acks) == TOTAL
    ack_by_parent = {ack.header("In-Reply-To"): ack for ack in acks}
    assert set(ack_by_parent) == sent_ids
    for message_id, (ref,) in by_message_id.items():
        assert f"[{ref}]" in ack_by_parent[message_id].header("Subject")
