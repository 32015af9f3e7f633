"""IMAP intake: read a mailbox into intake, exactly once, and only then move the mail.

One poller per configured mailbox, on a thread of the daemon's receiver
process (imapclient blocks). A pass over the mailbox:

1. SELECT the folder; UIDs above the position we keep (`imap_state`) are new.
   A new UIDVALIDITY (the folder was recreated) starts over from UID 1.
   The first time, `since = "new"` starts at UIDNEXT: years of history in a
   mailbox are not turned into tickets unless asked (`since = "all"`).
2. In batches: UIDs whose origin (mailbox, UIDVALIDITY, UID) an intake record
   already has are not fetched again (a crash between commit and move); the
   others are fetched with BODY.PEEK[] (no \\Seen) and committed to intake, the
   same intake SMTP and the pipe use.
3. Only then the batch is moved to the processed folder (or flagged \\Seen, or
   deleted and expunged), and the position saved.

A crash anywhere re-reads at most one batch, and the origin check turns that
into no new records at all. Then it waits: IDLE where the server has it, a
poll every `poll_interval` otherwise. A dropped connection, a server restart or
refused credentials cost one log line and a reconnect with backoff. On
PostgreSQL each mailbox is read by one node at a time (an advisory lock held
while connected; released when that node's connection goes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbridge.clock import Clock
from mailbridge.engine.intake import IncomingMail, receive_many
from mailbridge.errors import ConfigError, MailbridgeError
from mailbridge.settings import ImapSettings, Settings
from mailbridge.store import Store
from mailbridge.store.mailboxes import (
    Position,
    known_origins,
    load_position,
    mailbox_lock,
    save_position,
)
from parsers import peek

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
IDLE_SLICE = 1.0  # seconds: how often an IDLE wait looks whether it should stop
# What a lost connection or a server going away looks like through imapclient.
CONNECTION_ERRORS = (OSError, socket.timeout, IMAPClientError, ssl.SSLError, EOFError)


class MailboxError(MailbridgeError):
    """A mailbox cannot be read: what failed, said in one line (never the secret)."""


def secret(box: ImapSettings, environ: dict[str, str] | None = None) -> str:
    """The password from the config, its file, or its environment variable."""
    if box.password:
        return box.password
    if box.password_file:
        try:
            return Path(box.password_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                "imap.password_file",
                f"cannot read {box.password_file}: {error.strerror}",
                "fix the path or its permissions",
            ) from None
    if box.password_env:
        value = (environ if environ is not None else dict(os.environ)).get(box.password_env)
        if not value:
            raise ConfigError(
                "imap.password_env", f"${box.password_env} is not set", "export it for the daemon"
            )
        return value
    return ""


def _oauth2_token(box: ImapSettings) -> str:
    try:
        # The admin's own command from the config file, never text from a mail.
        done = subprocess.run(  # noqa: S603
            shlex.split(box.oauth2_token_command),
            capture_output=True,
            text=True,
            timeout=box.timeout,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise MailboxError(
            f"{box.key}: oauth2_token_command failed ({type(error).__name__})"
        ) from None
    return done.stdout.strip()


def connect(box: ImapSettings) -> IMAPClient:
    """A logged-in connection. Raises MailboxError (refused login), or a connection error."""
    context = ssl.create_default_context(cafile=box.ca_file or None)
    client = IMAPClient(
        box.host,
        port=box.server_port,
        ssl=box.tls == "implicit",
        ssl_context=context,
        timeout=box.timeout,
    )
    try:
        if box.tls == "starttls":
            client.starttls(context)
        if box.oauth2_token_command:
            client.oauth2_login(box.user, _oauth2_token(box))
        else:
            client.login(box.user, secret(box))
    except LoginError:
        _close(client)
        raise MailboxError(
            f"{box.key}: the server refused the login (check user and password)"
        ) from None
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 -- the connection may be gone already
        with contextlib.suppress(Exception):
            client.shutdown()


@dataclass(frozen=True, slots=True)
class Check:
    mailbox: str
    ok: bool
    said: str
    refused: bool = False  # the server refused the login: the config, not the network


def check(box: ImapSettings) -> Check:
    """Login, folder, processed folder: what `mailbridge imap check` prints."""
    try:
        client = connect(box)
    except MailboxError as error:
        return Check(box.key, False, str(error), refused=True)
    except CONNECTION_ERRORS as error:
        return Check(box.key, False, f"{box.key}: cannot connect ({_said(error)})")
    try:
        info = client.select_folder(box.folder, readonly=True)
        said = f"{box.key}: login ok, {info.get(b'EXISTS', 0)} mails in {box.folder}"
        if box.after == "move":
            if client.folder_exists(box.processed_folder):
                said += f", {box.processed_folder} exists"
            else:
                said += f", {box.processed_folder} will be created"
        return Check(box.key, True, said)
    except CONNECTION_ERRORS as error:
        return Check(box.key, False, f"{box.key}: {_said(error)}")
    finally:
        _close(client)


def _said(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class MailboxPoller:
    """Reads one mailbox into intake, until told to stop."""

    def __init__(
        self,
        box: ImapSettings,
        settings: Settings,
        *,
        store: Store,
        intake_store: Store,
        clock: Clock,
        on_stored: Callable[[], None] = lambda: None,
        stop: threading.Event | None = None,
    ) -> None:
        self.box = box
        self.settings = settings
        self.store = store
        self.intake_store = intake_store
        self.clock = clock
        self.on_stored = on_stored
        self.stop = stop or threading.Event()
        self._stores = [intake_store] if intake_store is store else [store, intake_store]
        # Set while the poller waits in IDLE for the server to announce mail.
        self.idling = threading.Event()

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        """Read, wait, read again, until `stop` is set; reconnect with backoff on failure."""
        failures = 0
        while not self.stop.is_set():
            try:
                with mailbox_lock(self.store, self.box.key) as mine:
                    if not mine:
                        log.info("imap.held_elsewhere", extra={"mailbox": self.box.key})
                        self.stop.wait(self.box.poll_interval)
                        continue
                    with self._session() as client:
                        failures = 0
                        self._serve(client)
            except MailboxError as error:
                failures += 1
                log.error("imap.refused", extra={"mailbox": self.box.key, "error": str(error)})  # noqa: TRY400 -- one line
            except CONNECTION_ERRORS as error:
                failures += 1
                log.warning(
                    "imap.disconnected", extra={"mailbox": self.box.key, "error": _said(error)}
                )
            except Exception:  # a bug or the database: log it, back off, keep going
                failures += 1
                log.exception("imap.failed", extra={"mailbox": self.box.key})
            if failures:
                self.stop.wait(min(MAX_BACKOFF, 2.0 ** min(failures, 9)))

    def fetch_once(self) -> int:
        """One pass: take what is there now, then return how many mails were stored."""
        with mailbox_lock(self.store, self.box.key) as mine:
            if not mine:
                raise MailboxError(f"{self.box.key}: another mailbridge node reads this mailbox")
            with self._session() as client:
                return self.drain(client)

    @contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        client = connect(self.box)
        log.info("imap.connected", extra={"mailbox": self.box.key})
        try:
            if self.box.after == "move" and not client.folder_exists(self.box.processed_folder):
                client.create_folder(self.box.processed_folder)
            yield client
        finally:
            _close(client)

    def _serve(self, client: IMAPClient) -> None:
        idle = client.has_capability("IDLE")
        while not self.stop.is_set():
            self.drain(client)
            if idle:
                self._idle(client)
            else:
                self.stop.wait(self.box.poll_interval)
                client.noop()

    def _idle(self, client: IMAPClient) -> None:
        """Wait for the server to announce mail, at most poll_interval, stoppably."""
        client.idle()
        self.idling.set()
        try:
            waited = 0.0
            while not self.stop.is_set() and waited < self.box.poll_interval:
                responses = client.idle_check(timeout=IDLE_SLICE)
                waited += IDLE_SLICE
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
        finally:
            self.idling.clear()
            client.idle_done()

    # -- one pass -------------------------------------------------------------------

    def drain(self, client: IMAPClient) -> int:
        """Take every new mail of the folder into intake; return how many were stored."""
        info = client.select_folder(self.box.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        position = self._position(client, info, uidvalidity)
        stored = 0
        while not self.stop.is_set():
            uids = sorted(
                u
                for u in client.search(["UID", f"{position.last_uid + 1}:*"])
                if u > position.last_uid
            )
            if not uids:
                return stored
            for batch in _batches(uids, self.box.batch_size):
                stored += self._take(client, uidvalidity, batch)
                position = Position(uidvalidity, batch[-1])
                save_position(self.store, self.box.key, position, self.clock.now())
                if self.stop.is_set():
                    break
        return stored

    def _position(
        self, client: IMAPClient, info: dict[bytes, object], uidvalidity: int
    ) -> Position:
        known = load_position(self.store, self.box.key)
        if known is not None and known.uidvalidity == uidvalidity:
            return known
        if known is not None:
            log.warning(
                "imap.uidvalidity_changed",
                extra={"mailbox": self.box.key, "was": known.uidvalidity, "now": uidvalidity},
            )
            start = Position(uidvalidity, 0)  # a recreated folder: all of it is new to us
        elif self.box.since == "all":
            start = Position(uidvalidity, 0)
        else:
            uidnext = info.get(b"UIDNEXT")
            last = (
                int(uidnext) - 1 if isinstance(uidnext, int) else max(client.search(["ALL"]) or [0])
            )
            start = Position(uidvalidity, last)
            log.info("imap.starting_after", extra={"mailbox": self.box.key, "uid": last})
        save_position(self.store, self.box.key, start, self.clock.now())
        return start

    def _take(self, client: IMAPClient, uidvalidity: int, batch: Sequence[int]) -> int:
        origins = {uid: f"imap:{self.box.key}:{uidvalidity}:{uid}" for uid in batch}
        known = known_origins(self._stores, origins.values())
        wanted = [uid for uid in batch if origins[uid] not in known]
        mails = []
        if wanted:
            limit = self.settings.smtp.max_message_size
            sizes = client.fetch(wanted, ["RFC822.SIZE"])
            small = [u for u in wanted if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= limit]
            for uid in sorted(set(wanted) - set(small)):
                log.warning(
                    "imap.too_big",
                    extra={"mailbox": self.box.key, "uid": uid, "limit": limit},
                )
            fetched = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for uid in small:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if not isinstance(raw, bytes):
                    continue  # expunged meanwhile by someone else
                mails.append(
                    IncomingMail(
                        raw=raw,
                        envelope_sender=peek.envelope_sender(raw),
                        envelope_recipients=(self.box.queue,),
                        adapter="imap",
                        origin=origins[uid],
                    )
                )
        if mails:
            receive_many(self.intake_store, mails, self.clock)  # committed before anything moves
            self.on_stored()
            log.info("imap.taken", extra={"mailbox": self.box.key, "mails": len(mails)})
        # Too big or gone: left where they are, for a person to look at.
        taken = known | {mail.origin for mail in mails}
        self._after(client, [uid for uid in batch if origins[uid] in taken])
        return len(mails)

    def _after(self, client: IMAPClient, uids: list[int]) -> None:
        if not uids:
            return
        if self.box.after == "flag":
            client.add_flags(uids, [SEEN])
            return
        if self.box.after == "move" and client.has_capability("MOVE"):
            client.move(uids, self.box.processed_folder)
            return
        if self.box.after == "move":
            client.copy(uids, self.box.processed_folder)
        client.add_flags(uids, [DELETED])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()


def _batches(uids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield uids[start : start + size]
