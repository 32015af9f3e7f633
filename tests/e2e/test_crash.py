"""Kill the daemon in the middle of a burst: nothing accepted is lost, nothing is doubled.

This is DESIGN.md rule 1 under the worst timing we can make: SIGKILL (no
cleanup, no flush) while several clients are mid-transaction, the worker is
mid-batch and the outbox is mid-delivery. A 250 is a promise; after a restart
every mail that got one must have become exactly one ticket with exactly one
acknowledgement. A mail whose 250 was lost in the kill may or may not be a
ticket (it may have been committed just before the kill): the test allows
both, as a sending MTA would retry it and dedupe must then absorb the retry.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.support.daemon import Installation, used_no_cpu
from tests.support.helpdesk_state import (
    intake_statuses,
    last_intake_id,
    outbox_statuses,
    ticket_refs,
    tickets_by_inbound_message_id,
    wait_settled,
)
from tests.support.mailflow import Mail, SendLog, maildir_new, new_mail, send_concurrently
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

CLIENTS = 5
MAILS_PER_CLIENT = 100
KILL_AFTER_ACCEPTED = 150
RETRIED = 20
SEND_TIMEOUT = 60.0
SETTLE_TIMEOUT = 60.0
ORPHAN_EXIT_TIMEOUT = 5.0  # "about a second", with room for a loaded machine
REPLY_TIMEOUT = 5.0  # a 250 takes milliseconds; 5 s means the daemon hangs


def _burst() -> list[list[Mail]]:
    return [
        [
            new_mail(c * MAILS_PER_CLIENT + i, to="helpdesk@example.org", batch="crash")
            for i in range(MAILS_PER_CLIENT)
        ]
        for c in range(CLIENTS)
    ]


def _send_and_kill(
    installation: Installation, batches: list[list[Mail]]
) -> tuple[SendLog, list[str]]:
    """Send the burst and SIGKILL the daemon once KILL_AFTER_ACCEPTED mails got a 250.

    Returns what the clients saw and the daemon's children that did not exit
    on their own after the kill (killed now, so they cannot blur what follows).
    """
    daemon = installation.daemons[-1]
    reached = threading.Event()

    def on_accepted(count: int) -> None:
        if count >= KILL_AFTER_ACCEPTED:
            reached.set()

    with ThreadPoolExecutor(max_workers=1) as pool:
        sending = pool.submit(
            send_concurrently, installation.port, batches, on_accepted=on_accepted
        )
        if not reached.wait(SEND_TIMEOUT):
            sending.result()  # raises what went wrong in the clients, if anything did
            pytest.fail(f"only a few mails were accepted before the kill:\n{daemon.log_tail()}")
        daemon.kill()
        log = sending.result()
    orphans = []
    for process in daemon.leftovers(timeout=ORPHAN_EXIT_TIMEOUT):
        with contextlib.suppress(psutil.NoSuchProcess):
            orphans.append(f"pid {process.pid}: {' '.join(process.cmdline())}")
            process.kill()
    return log, orphans


def test_sigkill_mid_burst_keeps_every_accepted_mail_exactly_once(
    installation: Installation,
) -> None:
    """Then, as the senders whose 250 was lost would, re-send some: no new tickets."""
    installation.start_daemon()
    batches = _burst()
    sent = {m.message_id for batch in batches for m in batch}

    log, orphans = _send_and_kill(installation, batches)

    accepted = log.accepted_ids
    assert KILL_AFTER_ACCEPTED <= len(accepted) < CLIENTS * MAILS_PER_CLIENT, "kill not mid-burst"
    assert len(set(accepted)) == len(accepted)

    installation.start_daemon()  # same config, nothing re-sent
    store = installation.store()
    wait_settled(store, SETTLE_TIMEOUT)

    tickets = tickets_by_inbound_message_id(store)
    assert [m for m in accepted if m not in tickets] == [], "accepted mail lost"
    assert {m: refs for m, refs in tickets.items() if len(refs) != 1} == {}, "ticket doubled"
    assert set(tickets) <= sent
    # Each client had at most one mail in flight when the daemon died; only those
    # may have been committed without their 250 reaching the client.
    assert len(tickets) <= len(accepted) + CLIENTS
    assert set(intake_statuses(store)) == {"processed"}
    acks = Counter(ack.header("In-Reply-To") for ack in maildir_new(installation.maildir))
    assert {m: acks[m] for m in accepted if acks[m] != 1} == {}, "acknowledgement lost or doubled"
    assert set(acks) == set(tickets)
    assert max(acks.values()) == 1
    assert set(outbox_statuses(store)) == {"sent"}

    _assert_retries_are_absorbed(installation, log)

    # Checked last so that a hanging orphan does not hide the checks above. An
    # orphaned worker must notice its parent is gone and stop: one left behind
    # holds database connections and, if it is not stuck, takes mail beside the
    # restarted daemon's worker.
    assert orphans == [], f"still running {ORPHAN_EXIT_TIMEOUT}s after the daemon was killed"


def _assert_retries_are_absorbed(installation: Installation, log: SendLog) -> None:
    """The sender's side of a lost 250: it sends the very same bytes again.

    Checked after the crash and restart, so dedupe must hold against tickets
    taken both before the kill and by the restarted daemon.
    """
    store = installation.store()
    refs_before = ticket_refs(store)
    acks_before = sorted(a.path.name for a in maildir_new(installation.maildir))
    outbox_before = outbox_statuses(store)
    last_id = last_intake_id(store)
    # Spread over the whole accepted range: early mails were taken before the
    # kill, late ones by the restarted daemon.
    retried = log.accepted[:: len(log.accepted) // RETRIED][:RETRIED]

    relog = send_concurrently(installation.port, [retried])

    assert relog.failures == []
    assert len(relog.accepted) == RETRIED
    wait_until(lambda: sum(intake_statuses(store, after_id=last_id).values()) == RETRIED)
    wait_settled(store, SETTLE_TIMEOUT)
    assert intake_statuses(store, after_id=last_id) == {"duplicate": RETRIED}
    assert ticket_refs(store) == refs_before
    assert sorted(a.path.name for a in maildir_new(installation.maildir)) == acks_before
    assert outbox_statuses(store) == outbox_before


def test_daemon_keeps_serving_after_its_worker_is_killed(installation: Installation) -> None:
    """The OOM killer picks the worker (it parses, so it is the bigger process).

    The daemon must notice, start a new worker, and go on answering SMTP; the
    new worker must take the mail that arrives next. The kill lands while the
    worker idles waiting to be woken, the state it is in most of the time.
    """
    daemon = installation.start_daemon()
    store = installation.store()
    first = new_mail(1, to="helpdesk@example.org", batch="before-worker-death")
    assert send_concurrently(installation.port, [[first]]).failures == []
    wait_until(lambda: maildir_new(installation.maildir), timeout=SETTLE_TIMEOUT)
    wait_settled(store, SETTLE_TIMEOUT)
    worker = daemon.worker()
    wait_until(lambda: used_no_cpu(worker), timeout=30)
    worker.kill()
    worker.wait(10)
    second = new_mail(2, to="helpdesk@example.org", batch="after-worker-death")

    log = send_concurrently(installation.port, [[second]], timeout=REPLY_TIMEOUT)

    if log.failures:
        daemon.kill_all()  # it hangs and would ignore SIGTERM: do not wait for it
        pytest.fail(
            f"no 250 after the worker was killed: {log.failures[0][1]}\n{daemon.log_tail()}"
        )
    wait_until(lambda: len(maildir_new(installation.maildir)) == 2, timeout=SETTLE_TIMEOUT)
    wait_settled(store, SETTLE_TIMEOUT)
    assert tickets_by_inbound_message_id(store) == {
        first.message_id: ["INC-1001"],
        second.message_id: ["INC-1002"],
    }
    assert daemon.stop() == 0
