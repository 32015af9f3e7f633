"""The private Dovecot fixture is a faithful peer: accounts, mail, UIDVALIDITY, restarts."""

from __future__ import annotations

import socket
import ssl

import psutil
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

import tests.support.databases
import tests.support.dovecot
from tests.support.dovecot import Account, DovecotServer, running_dovecot

pytestmark = pytest.mark.dovecot

# Until tests/conftest.py imports the fixture; then delete this and the import above,
# since a fixture imported in two places is two fixtures: two Dovecots.

RAW = b"From: requester@example.org\r\nSubject: printer on fire\r\n\r\nPlease help.\r\n"


def test_a_new_account_logs_in_and_is_offered_idle(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    client = dovecot_server.connect(account)
    try:
        assert client.has_capability("IDLE")
        assert client.has_capability("UIDPLUS")
    finally:
        client.logout()


def test_accounts_made_in_the_same_second_all_log_in(dovecot_server: DovecotServer) -> None:
    accounts = [dovecot_server.new_account() for _ in range(5)]
    assert len({account.user for account in accounts}) == 5
    for account in accounts:
        dovecot_server.connect(account).logout()


def test_append_returns_the_uid_that_uids_lists(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    first = dovecot_server.append(account, RAW)
    second = dovecot_server.append(account, RAW)
    assert dovecot_server.uids(account) == [first, second]
    assert second > first
    assert dovecot_server.uids(dovecot_server.new_account()) == []  # accounts are apart


def test_folders_can_be_made_and_filled(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    dovecot_server.create_folder(account, "Archive/2026")
    uid = dovecot_server.append(account, RAW, folder="Archive/2026", flags=[r"\Seen"])
    assert dovecot_server.uids(account, "Archive/2026") == [uid]
    assert dovecot_server.folders(account) == ["Archive", "Archive/2026", "INBOX"]
    dovecot_server.delete_folder(account, "Archive/2026")
    assert "Archive/2026" not in dovecot_server.folders(account)


@pytest.mark.parametrize("folder", ["INBOX", "Queue"])
def test_recreate_folder_empties_it_under_a_new_uidvalidity(
    dovecot_server: DovecotServer, folder: str
) -> None:
    account = dovecot_server.new_account()
    if folder != "INBOX":
        dovecot_server.create_folder(account, folder)
    dovecot_server.append(account, RAW, folder=folder)
    dovecot_server.append(account, RAW, folder=folder)
    before = dovecot_server.uidvalidity(account, folder)

    after = dovecot_server.recreate_folder(account, folder)

    assert after != before
    assert dovecot_server.uidvalidity(account, folder) == after
    assert dovecot_server.uids(account, folder) == []
    assert dovecot_server.append(account, RAW, folder=folder) == 1  # UIDs start again


def test_renumber_keeps_the_mail_under_a_new_uidvalidity(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    uids = [dovecot_server.append(account, RAW) for _ in range(4)]
    with dovecot_server.connect(account) as client:  # leave UIDs 3 and 4
        client.select_folder("INBOX")
        client.delete_messages(uids[:2])
        client.expunge()
    before = dovecot_server.uidvalidity(account)
    watcher = dovecot_server.connect(account)
    watcher.select_folder("INBOX")

    after = dovecot_server.renumber_folder(account)

    assert after > before
    assert dovecot_server.uids(account) == [1, 2]
    with pytest.raises((IMAPClient.AbortError, OSError)):  # its sessions were cut
        watcher.noop()
    watcher.shutdown()
    assert dovecot_server.append(account, RAW) == 3


def test_a_wrong_password_is_refused(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    with pytest.raises(LoginError):
        dovecot_server.connect(Account(user=account.user, password="not-" + account.password))
    with pytest.raises(LoginError):
        dovecot_server.connect(Account(user="nobody-has-this-name", password="x"))
    # The right password still works after failures (the fixture turns off the auth
    # penalty; how long a login takes is the bench's business, not a test's).
    dovecot_server.connect(account).logout()


def test_many_connections_for_one_account(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    clients = [dovecot_server.connect(account) for _ in range(30)]
    try:
        for client in clients:
            client.select_folder("INBOX", readonly=True)
    finally:
        for client in clients:
            client.logout()


def test_idle_hears_of_new_mail(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    watcher = dovecot_server.connect(account)
    try:
        watcher.select_folder("INBOX")
        watcher.idle()
        uid = dovecot_server.append(account, RAW)
        responses = watcher.idle_check(timeout=10)
        watcher.idle_done()
        assert (1, b"EXISTS") in responses
        assert watcher.search("ALL") == [uid]
    finally:
        watcher.logout()


def test_implicit_tls_and_starttls(dovecot_server: DovecotServer) -> None:
    if dovecot_server.tls_port is None:
        pytest.skip("no openssl: the private Dovecot has no TLS")
    account = dovecot_server.new_account()
    over_tls = dovecot_server.connect(account, tls=True)
    over_tls.logout()
    plain = IMAPClient(dovecot_server.host, dovecot_server.port, ssl=False, timeout=10)
    try:
        assert dovecot_server.starttls
        assert plain.has_capability("STARTTLS")
        plain.starttls(dovecot_server.ssl_context())
        plain.login(account.user, account.password)
    finally:
        plain.logout()
    untrusting = ssl.create_default_context()
    with (
        socket.create_connection((dovecot_server.host, dovecot_server.tls_port)) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        untrusting.wrap_socket(raw, server_hostname=dovecot_server.host)


def test_restart_keeps_mail_and_cuts_sessions(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.new_account()
    uid = dovecot_server.append(account, RAW)
    uidvalidity = dovecot_server.uidvalidity(account)
    connected = dovecot_server.connect(account)
    connected.select_folder("INBOX")
    old = dovecot_server.processes()

    dovecot_server.restart()

    assert not [pid for pid in old if _alive(pid)]
    with pytest.raises((IMAPClient.AbortError, OSError)):
        connected.noop()
    connected.shutdown()
    assert dovecot_server.uids(account) == [uid]
    assert dovecot_server.uidvalidity(account) == uidvalidity


def test_a_second_server_stops_without_leaving_processes() -> None:
    with running_dovecot(tls=False) as server:
        assert server.tls_port is None
        assert not server.starttls
        account = server.new_account()
        client = server.connect(account)
        assert not client.has_capability("STARTTLS")
        pids = server.processes()
        assert pids
    assert not [pid for pid in pids if _alive(pid)]  # the open connection did not keep any
    client.shutdown()
    assert not server.root.exists()


@pytest.mark.parametrize(("in_ci", "outcome"), [(False, "skip"), (True, "fail")])
def test_without_dovecot_it_skips_on_a_laptop_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, in_ci: bool, outcome: str
) -> None:
    monkeypatch.setattr(tests.support.dovecot, "dovecot_binary", lambda: None)
    monkeypatch.setattr(tests.support.databases, "IN_CI", in_ci)
    expected = pytest.skip.Exception if outcome == "skip" else pytest.fail.Exception
    with pytest.raises(expected, match="apt-get install dovecot-imapd"), running_dovecot():
        pass


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
