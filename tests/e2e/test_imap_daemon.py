"""The daemon reading a real Dovecot mailbox: SIGKILL mid-batch, and two nodes.

The promise: every mail in the mailbox becomes exactly one intake record and one
ticket, and leaves INBOX only once it is committed, whatever kills the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailbridge.store import Store
from mailbridge.store.models import IntakeRecord, Ticket
from tests.e2e.conftest import HELPDESK, finish
from tests.support.daemon import DaemonProcess, Installation, clean_environment, write_config
from tests.support.dovecot import Account, DovecotServer
from tests.support.helpdesk_state import backlog
from tests.support.participants import compose
from tests.support.ports import free_port, wait_until

pytestmark = pytest.mark.e2e

MAILS = 300


def _imap_toml(server: DovecotServer, account: Account) -> str:
    return (
        "\n[[imap]]\n"
        f'host = "{server.host}"\nport = {server.port}\ntls = "none"\n'
        f"user = {json.dumps(account.user)}\npassword = {json.dumps(account.password)}\n"
        f'queue = "{HELPDESK.address}"\nsince = "all"\nbatch_size = 25\npoll_interval = 2.0\n'
    )


def _installation(
    root: Path, database_url: str, server: DovecotServer, account: Account
) -> Installation:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_config(
        root / "mailbridge.toml",
        database_url=database_url,
        smtp_port=port,
        maildir=root / "outbox",
        from_address=HELPDESK.address,
        queues=[HELPDESK],
        extra=_imap_toml(server, account),
    )
    return Installation(
        root,
        config=config,
        port=port,
        maildir=root / "outbox",
        database_url=database_url,
        env=clean_environment(),
    )


@pytest.fixture
def node(
    database_url: str, tmp_path: Path, dovecot_server: DovecotServer
) -> Iterator[tuple[Installation, Account]]:
    account = dovecot_server.new_account()
    installation = _installation(tmp_path / "node-1", database_url, dovecot_server, account)
    yield installation, account
    finish(installation)


def _counts(store: Store) -> tuple[int, int]:
    with store.reading() as session:
        records = session.scalar(select(func.count()).select_from(IntakeRecord)) or 0
        tickets = session.scalar(select(func.count()).select_from(Ticket)) or 0
    return records, tickets


def _append(server: DovecotServer, account: Account, numbers: range) -> None:
    for n in numbers:
        _, raw = compose(
            sender=f"user{n}@example.org",
            to=[HELPDESK.address],
            subject=f"problem {n}",
            body=f"Machine {n} is down.",
        )
        server.append(account, raw)


def test_sigkill_mid_batch_loses_and_repeats_nothing(
    node: tuple[Installation, Account], dovecot_server: DovecotServer
) -> None:
    installation, account = node
    _append(dovecot_server, account, range(MAILS))
    store = installation.store()
    daemon = installation.start_daemon()
    wait_until(lambda: _counts(store)[0] > 0, timeout=60)
    daemon.kill()
    killed_at = _counts(store)[0]
    assert killed_at < MAILS, "the daemon finished before it could be killed mid-way"

    installation.start_daemon()
    wait_until(
        lambda: (
            _counts(store) == (MAILS, MAILS)
            and backlog(store).settled
            and dovecot_server.uids(account, "INBOX") == []
        ),
        timeout=180,
    )
    with store.reading() as session:
        origins = list(session.scalars(select(IntakeRecord.origin)))
    assert len(set(origins)) == MAILS
    assert len(dovecot_server.uids(account, "Processed")) == MAILS


@pytest.mark.postgres
def test_two_daemons_share_a_mailbox_one_at_a_time(
    postgres_url: str, tmp_path: Path, dovecot_server: DovecotServer
) -> None:
    account = dovecot_server.new_account()
    first = _installation(tmp_path / "node-1", postgres_url, dovecot_server, account)
    second = _installation(tmp_path / "node-2", postgres_url, dovecot_server, account)
    try:
        holder = first.start_daemon()
        wait_until(lambda: "imap.connected" in holder.log_tail(200), timeout=30)
        other: DaemonProcess = second.start_daemon()
        _append(dovecot_server, account, range(100))
        store = first.store()
        wait_until(lambda: _counts(store)[0] == 100, timeout=60)
        assert "imap.connected" not in other.log_tail(200)  # it waited its turn

        holder.kill()
        _append(dovecot_server, account, range(100, 150))
        wait_until(lambda: _counts(store) == (150, 150) and backlog(store).settled, timeout=90)
        assert "imap.connected" in other.log_tail(200)
        with store.reading() as session:
            origins = list(session.scalars(select(IntakeRecord.origin)))
        assert len(origins) == len(set(origins)) == 150
    finally:
        finish(second)
        finish(first)


def test_imap_check_names_a_refused_login_in_one_line(
    node: tuple[Installation, Account], dovecot_server: DovecotServer
) -> None:
    installation, account = node
    good = installation.cli("imap", "check")
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("ok")
    assert installation.config is not None
    config = installation.config.read_text().replace(json.dumps(account.password), '"wrong"')
    installation.config.write_text(config)
    bad = installation.cli("imap", "check")
    assert bad.returncode == 78  # the config needs fixing, not a retry
    lines = bad.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "refused the login" in lines[0]
    assert "wrong" not in bad.stdout + bad.stderr


def test_imap_fetch_once_is_enough_for_cron(
    node: tuple[Installation, Account], dovecot_server: DovecotServer
) -> None:
    """No daemon at all: one command reads the mailbox, opens the tickets and
    writes the acknowledgements, then exits."""
    installation, account = node
    _append(dovecot_server, account, range(5))
    done = installation.cli("imap", "fetch", "--once")
    assert done.returncode == 0, done.stderr
    assert "5 new mails" in done.stdout
    assert len(installation.cli_json("tickets")) == 5
    assert len(list((installation.maildir / "new").iterdir())) == 5
    assert dovecot_server.uids(account, "INBOX") == []
    again = installation.cli("imap", "fetch", "--once")
    assert "0 new mails" in again.stdout
    assert len(installation.cli_json("tickets")) == 5
