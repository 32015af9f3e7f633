"""A private Dovecot on loopback for IMAP integration tests: one per test session.

Everything lives under a fresh temporary directory (config, base_dir, state_dir, log,
one passwd-file per account, Maildir homes); Dovecot listens only on 127.0.0.1, on free
ports, and never touches a system-wide Dovecot. Tests get a `DovecotServer` that makes
accounts and puts, lists and renumbers mail through imapclient, the library our IMAP
adapter uses. This module must not import the adapter: it is the peer we test against.

Dovecot 2.3 behaviour this module works around (measured on Debian 12, 2.3.19):
- a passwd-file is re-read at most once a second, so an account appended to one shared
  file within the same second as the previous one cannot log in; each account gets its
  own file (`users/%u`), read on its first login.
- after a failed login the auth penalty (anvil) delays every later login from the same
  IP by 2, 4, 8... seconds, successful ones too; the penalty socket is switched off.
- `dovecot stop` takes about 3 s and leaves session processes serving open connections,
  so `stop()` signals Dovecot's whole process group and waits for every member.
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from imapclient import IMAPClient

from tests.support.databases import require_service
from tests.support.ports import free_port

INSTALL_HINT = "apt-get install dovecot-imapd"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
CLIENT_TIMEOUT = 10.0

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


class DovecotError(Exception):
    """Raised when our private Dovecot does not start or stop, or doveadm fails;
    the message carries the tail of Dovecot's log."""


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    password: str


def dovecot_binary() -> str | None:
    """Dovecot's master binary: on PATH, else where Debian puts it (/usr/sbin is often
    missing from a user's PATH)."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin")


def _doveadm_binary(dovecot: str) -> str:
    beside = f"{Path(dovecot).parent}:/usr/bin"
    return shutil.which("doveadm") or shutil.which("doveadm", path=beside) or "doveadm"


@dataclass(frozen=True, slots=True)
class _Users:
    """Who Dovecot's processes and mail files run as.

    As root: the packaged privilege-separation users, and mail owned by nobody (any
    unprivileged uid would do; a static userdb names it). As anyone else Dovecot can
    only be that user, so every role is the current user and nothing is chrooted."""

    login: str
    internal: str
    internal_group: str
    mail_uid: int
    mail_gid: int
    chroot: bool


def _users() -> _Users:
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return _Users(me.pw_name, me.pw_name, group, me.pw_uid, me.pw_gid, chroot=False)

    def existing(name: str) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            return pwd.getpwnam("nobody")

    login, internal, nobody = existing("dovenull"), existing("dovecot"), pwd.getpwnam("nobody")
    internal_group = grp.getgrgid(internal.pw_gid).gr_name
    return _Users(
        login.pw_name, internal.pw_name, internal_group, nobody.pw_uid, nobody.pw_gid, True
    )


def _self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A throwaway certificate for 127.0.0.1 and localhost, or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-nodes", "-days", "2"]
    command += ["-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", "/CN=localhost"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    command += ["-keyout", str(key), "-out", str(cert)]
    result = subprocess.run(command, capture_output=True, check=False)
    return (cert, key) if result.returncode == 0 else None


class DovecotServer:
    """One private Dovecot: plain IMAP on `port` (offering STARTTLS when `starttls`),
    implicit TLS on `tls_port` (None without openssl). Accounts and mail survive
    `restart()`; `close()` removes everything."""

    host = HOST

    def __init__(self, binary: str, *, tls: bool = True) -> None:
        self.binary = binary
        self.doveadm = _doveadm_binary(binary)
        self.root = Path(tempfile.mkdtemp(prefix="mailbridge-dovecot-"))
        # Dovecot's unprivileged processes (auth, login, mail) must traverse into it.
        self.root.chmod(0o711)
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.users_dir = self.root / "users"
        self.mail_dir = self.root / "mail"
        self.port = free_port()
        self._users = _users()
        for directory in (self.users_dir, self.mail_dir, self.root / "state"):
            directory.mkdir(mode=0o755)
        os.chown(self.mail_dir, self._users.mail_uid, self._users.mail_gid)
        certificate = _self_signed_certificate(self.root) if tls else None
        self.cert_path: Path | None = certificate[0] if certificate else None
        self.tls_port: int | None = free_port() if certificate else None
        self.starttls = certificate is not None
        self.config_path.write_text(self._config(certificate))
        self._process: subprocess.Popen[bytes] | None = None
        self._numbers = itertools.count(1)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start Dovecot and return once it greets on the plain port (its auth is ready)."""
        if self._process is not None:
            raise DovecotError("Dovecot is already running")
        # A stopped Dovecot leaves its sockets behind; the next one must not trip on them.
        shutil.rmtree(self.root / "run", ignore_errors=True)
        with (self.root / "master.stderr").open("ab") as stderr:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group, so stop() finds every child
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._greets():
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise DovecotError(f"Dovecot exited with {code} at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                tail = self.log_tail()
                raise DovecotError(f"Dovecot did not greet within {START_TIMEOUT}s:\n{tail}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop Dovecot and every process it started; open IMAP connections are cut."""
        process = self._process
        if process is None:
            return
        self._process = None
        group = process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        if not _wait_group_gone(process, STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            if not _wait_group_gone(process, STOP_TIMEOUT):
                raise DovecotError(f"Dovecot processes survived SIGKILL: {_members(group)}")

    def restart(self) -> None:
        """Stop and start on the same ports, keeping accounts and mail."""
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def processes(self) -> list[int]:
        """Pids of the master and its children now (empty when stopped)."""
        return _members(self._process.pid) if self._process is not None else []

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for path in (self.root / "master.stderr", self.log_path):
            with contextlib.suppress(FileNotFoundError):
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- accounts and clients ------------------------------------------------------------

    def new_account(self) -> Account:
        """A fresh account that can log in at once (its passwd-file is new to Dovecot)."""
        account = Account(
            user=f"user{next(self._numbers)}-{secrets.token_hex(3)}",
            password=secrets.token_urlsafe(12),
        )
        path = self.users_dir / account.user
        partial = path.with_name(f".{account.user}.tmp")
        partial.write_text(f"{account.user}:{{PLAIN}}{account.password}::::::\n")
        partial.chmod(0o644)
        partial.replace(path)  # atomically: a half-written file would be cached for 1 s
        return account

    def connect(self, account: Account, *, tls: bool = False) -> IMAPClient:
        """A logged-in client on the plain port, or the implicit-TLS one; log it out."""
        if not tls:
            client = IMAPClient(self.host, self.port, ssl=False, timeout=CLIENT_TIMEOUT)
        elif self.tls_port is None:
            raise DovecotError("this Dovecot has no TLS listener (no openssl)")
        else:
            context = self.ssl_context()
            client = IMAPClient(
                self.host, self.tls_port, ssl_context=context, timeout=CLIENT_TIMEOUT
            )
        try:
            client.login(account.user, account.password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate only."""
        if self.cert_path is None:
            raise DovecotError("this Dovecot has no certificate (no openssl)")
        return ssl.create_default_context(cafile=str(self.cert_path))

    @contextlib.contextmanager
    def _session(self, account: Account) -> Iterator[IMAPClient]:
        client = self.connect(account)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    # -- mail ---------------------------------------------------------------------------

    def append(
        self, account: Account, raw: bytes, folder: str = "INBOX", flags: Sequence[str] = ()
    ) -> int:
        """Store `raw` as it is and return its UID."""
        with self._session(account) as client:
            response: bytes = client.append(folder, raw, flags=tuple(flags))
            found = _APPENDUID.search(response)
            if found:
                return int(found.group(2))
            client.select_folder(folder, readonly=True)  # no UIDPLUS: the newest UID
            return int(max(client.search("ALL")))

    def uids(self, account: Account, folder: str = "INBOX") -> list[int]:
        with self._session(account) as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def folders(self, account: Account) -> list[str]:
        with self._session(account) as client:
            return sorted(name for _flags, _delimiter, name in client.list_folders())

    def uidvalidity(self, account: Account, folder: str = "INBOX") -> int:
        # SELECT, not STATUS: SELECT syncs the folder with the disk first.
        with self._session(account) as client:
            return int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])

    def create_folder(self, account: Account, folder: str) -> None:
        with self._session(account) as client:
            client.create_folder(folder)

    def delete_folder(self, account: Account, folder: str) -> None:
        with self._session(account) as client:
            client.delete_folder(folder)

    def recreate_folder(self, account: Account, folder: str) -> int:
        """Empty `folder` under a new UIDVALIDITY, UIDs starting again at 1, as a server
        that lost or rebuilt the folder would; returns the new UIDVALIDITY.

        Other folders are deleted and created over IMAP. INBOX cannot be deleted, so its
        mail and index are removed on disk after `kick(account)` cut its sessions."""
        old = self.uidvalidity(account, folder)
        if folder.upper() == "INBOX":
            return self._forget(account, folder, old, keep_mail=False)
        self.delete_folder(account, folder)
        self.create_folder(account, folder)
        new = self.uidvalidity(account, folder)
        if new == old:
            raise DovecotError(f"{folder} kept UIDVALIDITY {old} across DELETE and CREATE")
        return new

    def renumber_folder(self, account: Account, folder: str = "INBOX") -> int:
        """Keep the mail but give it new UIDs from 1 (in no particular order) under a
        new UIDVALIDITY, as a server that lost its index would; returns the new
        UIDVALIDITY. The account's sessions are cut first (`kick`)."""
        return self._forget(account, folder, self.uidvalidity(account, folder), keep_mail=True)

    def kick(self, account: Account) -> None:
        """Disconnect every IMAP session of `account` (clients see BYE or EOF) and
        return once their processes are gone."""
        self.doveadm_run("kick", account.user, ok=(0, 68))  # 68: no session to kick
        title = f"[{account.user}"  # verbose_proctitle: "dovecot/imap [user ip state]"
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_cmdline(pid)[1:2] == [title] for pid in self.processes()):
            if time.monotonic() > deadline:
                raise DovecotError(f"sessions of {account.user} survived doveadm kick")
            time.sleep(0.01)

    def _forget(self, account: Account, folder: str, old: int, *, keep_mail: bool) -> int:
        """Remove the folder's index and UID list (and mail, unless kept) while no
        session of the account has it open: Dovecot then rebuilds it from the Maildir
        and takes a new UIDVALIDITY from its per-user counter."""
        self.kick(account)
        path = Path(self.doveadm_run("mailbox", "path", "-u", account.user, folder).strip())
        doomed = [path / "dovecot-uidlist", *path.glob("dovecot.index*")]
        if not keep_mail:
            doomed += [mail for part in ("new", "cur", "tmp") for mail in (path / part).iterdir()]
        for file in doomed:
            file.unlink(missing_ok=True)
        new = self.uidvalidity(account, folder)
        if new == old:
            raise DovecotError(f"{folder} kept UIDVALIDITY {old} after its index was removed")
        return new

    def doveadm_run(self, *args: str, ok: Sequence[int] = (0,)) -> str:
        """Run doveadm against this server (as root it acts as the mail user)."""
        command = [self.doveadm, "-c", str(self.config_path), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode not in ok:
            raise DovecotError(
                f"doveadm {' '.join(args)} exited with {result.returncode}: "
                f"{result.stderr.strip()}\n{self.log_tail()}"
            )
        return result.stdout

    # -- configuration ------------------------------------------------------------------

    def _config(self, certificate: tuple[Path, Path] | None) -> str:
        users = self._users
        no_chroot = "" if users.chroot else "  chroot =\n"
        if certificate is None:
            tls = "ssl = no\n"
            tls_listener = "  inet_listener imaps {\n    port = 0\n  }\n"
        else:
            cert, key = certificate
            # ssl = yes offers STARTTLS on the plain port without requiring it: plaintext
            # LOGIN stays allowed (disable_plaintext_auth = no, and loopback counts as
            # secured anyway). A port-specific "ssl = no" does not exist in Dovecot 2.3.
            tls = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
            tls_listener = (
                f"  inet_listener imaps {{\n    address = {HOST}\n"
                f"    port = {self.tls_port}\n    ssl = yes\n  }}\n"
            )
        return f"""\
# Private throwaway Dovecot for mailbridge's tests (tests/support/dovecot.py).
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap
listen = {HOST}
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {users.login}
default_internal_user = {users.internal}
default_internal_group = {users.internal_group}
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = 1
verbose_proctitle = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = static
  args = uid={users.mail_uid} gid={users.mail_gid} home={self.mail_dir}/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
service imap-login {{
{no_chroot}  service_count = 0
  process_min_avail = 1
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
{tls_listener}}}
service anvil {{
{no_chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def _greets(self) -> bool:
        """True once the plain port sends "* OK": imap-login greets only when auth is up."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as conn:
                greeted = conn.recv(64).startswith(b"* OK")
                conn.sendall(b"a LOGOUT\r\n")
                return greeted
        except OSError:
            return False


def _cmdline(pid: int) -> list[str]:
    try:
        return list(psutil.Process(pid).cmdline())
    except psutil.Error:
        return []


def _members(group: int) -> list[int]:
    """Live (not zombie) processes in a process group."""
    pids = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return pids


def _wait_group_gone(master: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        master.poll()  # reap the master; its orphans are reaped by init
        if master.returncode is not None and not _members(master.pid):
            return True
        time.sleep(0.02)
    return False


@contextlib.contextmanager
def running_dovecot(*, tls: bool = True) -> Iterator[DovecotServer]:
    """A started private Dovecot, stopped and removed afterwards. Skips (fails under
    CI=true) without the binary; fails with the log's tail if it does not start."""
    binary = dovecot_binary()
    if binary is None:
        require_service("Dovecot", INSTALL_HINT)
        raise AssertionError("unreachable")
    server = DovecotServer(binary, tls=tls)
    try:
        try:
            server.start()
        except DovecotError as error:
            pytest.fail(f"private Dovecot did not start: {error}")
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """The session's private Dovecot; each test makes its own accounts with new_account()."""
    with running_dovecot() as server:
        yield server
