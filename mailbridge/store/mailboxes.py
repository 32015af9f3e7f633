"""What the IMAP intake keeps in the database: each mailbox's position, the origins of
records already taken, and the lock that lets one node at a time read a mailbox."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from mailbridge.store.models import ImapState, IntakeRecord
from mailbridge.store.session import Store
from mailbridge.store.spool import SPOOLED
from mailbridge.store.upsert import insert_missing


@dataclass(frozen=True, slots=True)
class Position:
    uidvalidity: int
    last_uid: int


def load_position(store: Store, mailbox: str) -> Position | None:
    with store.reading() as session:
        row = session.get(ImapState, mailbox)
        return None if row is None else Position(row.uidvalidity, row.last_uid)


def save_position(store: Store, mailbox: str, position: Position, now: datetime) -> None:
    with store.transaction() as session:
        row = session.get(ImapState, mailbox)
        if row is None:
            insert_missing(
                session,
                ImapState,
                [
                    {
                        "mailbox": mailbox,
                        "uidvalidity": position.uidvalidity,
                        "last_uid": position.last_uid,
                        "updated_at": now,
                    }
                ],
                ["mailbox"],
            )
            return
        row.uidvalidity = position.uidvalidity
        row.last_uid = position.last_uid
        row.updated_at = now


def known_origins(stores: Iterable[Store], origins: Iterable[str]) -> set[str]:
    """Those of `origins` some intake record already has (main database and spool)."""
    wanted = list(origins)
    if not wanted:
        return set()
    found: set[str] = set()
    for store in stores:
        table = SPOOLED if store.url.endswith(".spool") else IntakeRecord.__table__
        column = table.c.origin
        with store.connection() as connection:
            found.update(connection.scalars(select(column).where(column.in_(wanted))))
    return found


def _lock_key(mailbox: str) -> int:
    digest = hashlib.sha256(b"mailbridge-imap:" + mailbox.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def mailbox_lock(store: Store, mailbox: str) -> Iterator[bool]:
    """Hold the right to read `mailbox` for the block; yields False if another node has it.

    PostgreSQL: a session advisory lock on a connection of its own, released when
    the block ends or the process dies (its connection closes). SQLite (one
    machine): an flock on a file beside the database.
    """
    if make_url(store.url).get_backend_name() == "postgresql":
        with store.engine.connect() as connection:
            key = {"key": _lock_key(mailbox)}
            got = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key))
            try:
                yield got
            finally:
                if got:
                    with contextlib.suppress(Exception):
                        connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                        connection.commit()
        return
    database = make_url(store.url).database or ""
    path = Path(f"{database}.imap-{_lock_key(mailbox) & 0xFFFFFFFF:08x}.lock")
    handle: IO[bytes] = open(path, "ab")  # noqa: SIM115 -- closed below
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()
