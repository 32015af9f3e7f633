"""IMAP intake against a real Dovecot on loopback: exactly once, whatever happens.

Each test gets a fresh Dovecot account; the poller runs in this process against
a real database (both backends), and mail is appended with a real IMAP client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from imapclient import SEEN, IMAPClient
from sqlalchemy import func, select

from mailbridge.adapters.imap import MailboxPoller, check
from mailbridge.engine.intake import IncomingMail, receive
from mailbridge.settings import ImapSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import IntakeRecord
from tests.support.clock import StepClock
from tests.support.desk import LocalDesk
from tests.support.dovecot import Account, DovecotServer
from tests.support.participants import compose
from tests.support.ports import wait_until

HELPDESK = "helpdesk@example.org"


def _mail(n: int, subject: str = "") -> bytes:
    _, raw = compose(
        sender=f"user{n}@example.org",
        to=[HELPDESK],
        subject=subject or f"problem {n}",
        body=f"Machine {n} does not start.",
    )
    return raw


def _box(server: DovecotServer, account: Account, **overrides: Any) -> ImapSettings:
    box = ImapSettings(
        host=server.host,
        port=server.port,
        tls="none",
        user=account.user,
        password=account.password,
        queue=HELPDESK,
        poll_interval=30.0,
        since="all",
        batch_size=7,
        timeout=10.0,
    )
    return replace(box, **overrides)


def _poller(
    settings: Settings,
    store: Store,
    box: ImapSettings,
    on_stored: Callable[[], None] = lambda: None,
) -> MailboxPoller:
    return MailboxPoller(
        box, settings, store=store, intake_store=store, clock=StepClock(), on_stored=on_stored
    )


def _seen(server: DovecotServer, account: Account) -> list[int]:
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(account.user, account.password)
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    return sorted(uid for uid, values in flags.items() if SEEN in values)


def _records(store: Store) -> int:
    with store.reading() as session:
        return session.scalar(select(func.count()).select_from(IntakeRecord)) or 0


@pytest.fixture
def account(dovecot_server: DovecotServer) -> Account:
    return dovecot_server.new_account()


def test_mail_becomes_tickets_and_moves_to_processed(
    settings: Settings, store: Store, dovecot_server: DovecotServer, account: Account
) -> None:
    for n in range(20):
        dovecot_server.append(account, _mail(n))
    box = _box(dovecot_server, account)
    assert _poller(settings, store, box).fetch_once() == 20

    desk = LocalDesk(settings, store)
    desk.take()
    assert len(desk.refs()) == 20
    assert dovecot_server.uids(account, "INBOX") == []
    assert len(dovecot_server.uids(account, "Processed")) == 20
    # A reply to one of our acknowledgements, read from the mailbox, threads.
    ack = desk.sent()[0]
    _, raw = compose(
        sender=str(ack["To"]),
        to=[HELPDESK],
        subject=f"Re: {ack['Subject']}",
        body="Still broken.",
        in_reply_to=str(ack["Message-ID"]),
    )
    dovecot_server.append(account, raw)
    assert _poller(settings, store, box).fetch_once() == 1
    desk.take()
    assert len(desk.refs()) == 20


def test_since_new_leaves_history_alone_and_flag_mode_keeps_the_mail(
    settings: Settings, store: Store, dovecot_server: DovecotServer, account: Account
) -> None:
    for n in range(5):
        dovecot_server.append(account, _mail(n))
    box = _box(dovecot_server, account, since="new", after="flag")
    poller = _poller(settings, store, box)
    assert poller.fetch_once() == 0  # years of history: not ours to answer
    dovecot_server.append(account, _mail(99))
    assert poller.fetch_once() == 1
    assert poller.fetch_once() == 0  # flagged and behind our position: never again
    assert len(dovecot_server.uids(account, "INBOX")) == 6
    assert _seen(dovecot_server, account) == dovecot_server.uids(account, "INBOX")[-1:]


def test_delete_mode_empties_the_folder(
    settings: Settings, store: Store, dovecot_server: DovecotServer, account: Account
) -> None:
    for n in range(3):
        dovecot_server.append(account, _mail(n))
    assert _poller(settings, store, _box(dovecot_server, account, after="delete")).fetch_once() == 3
    assert dovecot_server.uids(account, "INBOX") == []
    assert "Processed" not in dovecot_server.folders(account)


def test_a_mail_committed_before_a_crash_is_moved_not_taken_again(
    settings: Settings, store: Store, dovecot_server: DovecotServer, account: Account
) -> None:
    """The state a crash between commit and move leaves: the record exists (with
    its origin), the mail is still in INBOX. The next pass only moves it."""
    uid = dovecot_server.append(account, _mail(1))
    box = _box(dovecot_server, account)
    uidvalidity = dovecot_server.uidvalidity(account, "INBOX")
    receive(
        store,
        IncomingMail(
            raw=_mail(1),
            envelope_sender="user1@example.org",
            envelope_recipients=(HELPDESK,),
            adapter="imap",
            origin=f"imap:{box.key}:{uidvalidity}:{uid}",
        ),
        StepClock(),
    )
    assert _poller(settings, store, box).fetch_once() == 0
    assert _records(store) == 1
    assert dovecot_server.uids(account, "INBOX") == []


def test_a_new_uidvalidity_neither_skips_nor_repeats(
    settings: Settings, store: Store, dovecot_server: DovecotServer, account: Account
) -> None:
    box = _box(dovecot_server, account, after="flag")
    for n in range(4):
        dovecot_server.append(account, _mail(n))
    poller = _poller(settings, store, box)
    assert poller.fetch_once() == 4
    dovecot_server.recreate_folder(account, "INBOX")  # UIDs start at 1 again
    for n in range(10, 13):
        dovecot_server.append(account, _mail(n))
    assert poller.fetch_once() == 3
    assert poller.fetch_once() == 0
    desk = LocalDesk(settings, store)
    desk.take()
    assert len(desk.refs()) == 7


def test_idle_picks_up_mail_and_a_server_restart_is_survived(
    settings: Settings, store: Store, dovecot_server: DovecotServer, account: Account
) -> None:
    box = _box(dovecot_server, account, poll_interval=300.0)  # only IDLE can be quick
    stored = threading.Event()
    poller = _poller(settings, store, box, on_stored=stored.set)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        wait_until(poller.idling.is_set, timeout=20)
        dovecot_server.append(account, _mail(1))
        wait_until(lambda: _records(store) == 1, timeout=20)
        dovecot_server.restart()
        dovecot_server.append(account, _mail(2))
        # The poller reconnects after its backoff (2 s the first time) and takes it.
        wait_until(lambda: _records(store) == 2, timeout=60)
    finally:
        poller.stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert dovecot_server.uids(account, "INBOX") == []


def test_check_says_what_is_wrong_in_one_line(
    settings: Settings, dovecot_server: DovecotServer, account: Account
) -> None:
    good = check(_box(dovecot_server, account))
    assert good.ok, good.said
    bad = check(_box(dovecot_server, account, password="wrong"))
    assert not bad.ok
    assert "refused the login" in bad.said
    assert "wrong" not in bad.said
    assert "\n" not in bad.said


def test_two_nodes_never_read_one_mailbox_at_once(
    settings: Settings, dovecot_server: DovecotServer, account: Account, tmp_path: Path
) -> None:
    """Each node its own Store (its own connections): while the first holds the
    mailbox the second waits; when the first stops, the second takes over."""
    box = _box(dovecot_server, account, poll_interval=1.0)
    nodes = [Store(settings.database.url) for _ in range(2)]
    pollers = [_poller(settings, node, box) for node in nodes]
    threads = [threading.Thread(target=p.run, daemon=True) for p in pollers]
    try:
        threads[0].start()
        wait_until(pollers[0].idling.is_set, timeout=20)
        threads[1].start()
        for n in range(30):
            dovecot_server.append(account, _mail(n))
        wait_until(lambda: _records(nodes[0]) == 30, timeout=30)
        pollers[0].stop.set()
        threads[0].join(30)
        for n in range(30, 40):
            dovecot_server.append(account, _mail(n))
        wait_until(lambda: _records(nodes[0]) == 40, timeout=30)
        with nodes[0].reading() as session:
            origins = list(session.scalars(select(IntakeRecord.origin)))
    finally:
        for poller in pollers:
            poller.stop.set()
        for thread in threads:
            thread.join(30)
        alive = [t.name for t in threads if t.is_alive()]
        for node in nodes:
            node.dispose()
    assert alive == []
    assert len(origins) == len(set(origins)) == 40
    assert dovecot_server.uids(account, "INBOX") == []


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_modes_with_a_private_ca(
    settings: Settings,
    store: Store,
    dovecot_server: DovecotServer,
    account: Account,
    tls: str,
) -> None:
    if dovecot_server.cert_path is None or dovecot_server.tls_port is None:
        pytest.skip("this Dovecot has no TLS listener")
    port = dovecot_server.tls_port if tls == "implicit" else dovecot_server.port
    box = _box(
        dovecot_server,
        account,
        tls=tls,
        port=port,
        host="localhost",
        ca_file=str(dovecot_server.cert_path),
    )
    dovecot_server.append(account, _mail(1))
    assert _poller(settings, store, box).fetch_once() == 1
    untrusted = check(replace(box, ca_file=""))
    assert not untrusted.ok
    assert "certificate" in untrusted.said.lower()
