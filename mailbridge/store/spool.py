"""SQLite only: a second database file where receivers commit incoming mail.

SQLite has one write lock per file. With receivers and the worker writing the
same file, every 250 waited for the worker's ticket transaction to end (a
third of the commit thread's time went to waiting for the lock). In a spool of
their own, receivers wait only for each other, which group commit already
handles; the worker moves spooled records into the main database in batches.

The move keeps each record's id, so it can be told apart from the next one:
the spool hands out ids with AUTOINCREMENT, seeded above the main database's
highest id whenever it is opened (a deleted spool file must not reuse an id).
A crash after the move's commit and before the spool's delete leaves a record
in both places; the next move sees its id, with the same hash, in the main
database and only deletes it from the spool. Nothing is lost and nothing is
taken twice.

PostgreSQL locks rows, not the database: there receivers write the main
database directly and there is no spool.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, Table, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from mailbridge.store.models import IntakeRecord
from mailbridge.store.session import Store

log = logging.getLogger(__name__)

# The intake table's columns, without its indexes (the spool is drained within
# moments), with AUTOINCREMENT so that an emptied spool never reuses an id.
_metadata = MetaData()
_intake: Table = IntakeRecord.__table__  # type: ignore[assignment]  # declared with a Table
SPOOLED = _intake.to_metadata(_metadata)
SPOOLED.indexes.clear()
SPOOLED.dialect_options["sqlite"]["autoincrement"] = True


def spool_path(database_url: str) -> Path | None:
    """Where the spool of a SQLite database lives (beside it); None for PostgreSQL
    and in-memory databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    main = Path(url.database)
    return main.with_name(main.name + ".spool")


def open_spool(main: Store) -> Store | None:
    """The spool of `main`, created if missing and seeded above its highest id;
    None when `main` needs no spool (PostgreSQL)."""
    path = spool_path(main.url)
    if path is None:
        return None
    spool = Store(f"sqlite:///{path}", pool_size=4, lock_timeout=main.lock_timeout)
    with spool.connection() as connection:
        SPOOLED.create(connection, checkfirst=True)
        _add_new_columns(connection)
    with main.reading() as session:
        floor = session.scalar(select(func.max(IntakeRecord.id))) or 0
    _raise_sequence(spool, floor)
    return spool


def _add_new_columns(connection: Connection) -> None:
    """A spool file made by an older version lacks columns added since: add them
    (all nullable), so an upgrade needs no step for the spool."""
    present = {row[1] for row in connection.execute(text(f"PRAGMA table_info({SPOOLED.name})"))}
    for column in SPOOLED.columns:
        if column.name not in present:
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {SPOOLED.name} ADD COLUMN {column.name} {kind}"))


def _raise_sequence(spool: Store, floor: int) -> None:
    """Make the spool's next id greater than `floor`."""
    with spool.connection() as connection:
        name = {"name": SPOOLED.name}
        seq = connection.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :name"), name
        ).scalar()
        if seq is None:
            connection.execute(
                text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"),
                {**name, "seq": floor},
            )
        elif seq < floor:
            connection.execute(
                text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :name"),
                {**name, "seq": floor},
            )


def spooled_count(spool: Store) -> int:
    """How many records wait in the spool."""
    with spool.reading() as session:
        return session.scalar(select(func.count()).select_from(SPOOLED)) or 0


def read_spooled(spool: Store, limit: int) -> list[dict[str, Any]]:
    """The oldest spooled records (up to `limit`), as rows for `copy_into`."""
    with spool.reading() as session:
        query = select(SPOOLED).order_by(SPOOLED.c.id).limit(limit)
        return [dict(row) for row in session.execute(query).mappings()]


def copy_into(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert spooled rows into the main database in the caller's transaction,
    skipping those a crash left already moved; return how many were new."""
    if not rows:
        return 0
    present = dict(
        connection.execute(
            select(IntakeRecord.id, IntakeRecord.sha256).where(
                IntakeRecord.id.in_([row["id"] for row in rows])
            )
        ).all()
    )
    fresh = [row for row in rows if row["id"] not in present]
    # An id taken by another mail: only if someone wrote to the main database
    # directly while a spool was in use. Keep the mail, under a new id.
    clashing = [
        {key: value for key, value in row.items() if key != "id"}
        for row in rows
        if row["id"] in present and present[row["id"]] != row["sha256"]
    ]
    if fresh:
        connection.execute(insert(IntakeRecord), fresh)
    if clashing:
        log.error("spool.id_clash", extra={"records": len(clashing)})
        connection.execute(insert(IntakeRecord), clashing)
    return len(fresh) + len(clashing)


def forget(spool: Store, rows: list[dict[str, Any]]) -> None:
    """Delete rows from the spool once the main database has committed them."""
    if rows:
        with spool.connection() as connection:
            ids = [row["id"] for row in rows]
            connection.execute(delete(SPOOLED).where(SPOOLED.c.id.in_(ids)))


def move_spooled(spool: Store, main: Store, limit: int) -> int:
    """Move up to `limit` of the oldest spooled records into `main` in a transaction
    of their own; return how many reached it now."""
    rows = read_spooled(spool, limit)
    if not rows:
        return 0
    with main.connection() as connection:
        moved = copy_into(connection, rows)
    forget(spool, rows)
    return moved
