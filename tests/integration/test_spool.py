"""The SQLite spool: receivers commit there, the worker moves records into the main
database. A crash between the move and the spool's delete, a deleted spool file,
an id written behind the spool's back, and a failing batch lose nothing and
take nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from mailbridge.clock import SystemClock
from mailbridge.ids import SecretsIds
from mailbridge.settings import Settings
from mailbridge.store import Store
from mailbridge.store.models import IntakeRecord, IntakeStatus, Ticket
from mailbridge.store.spool import (
    copy_into,
    open_spool,
    read_spooled,
    spool_path,
    spooled_count,
)
from mailbridge.worker import Worker
from tests.support.databases import database
from tests.support.mails import compose, maildir_messages, receive_raw


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: PostgreSQL has no spool (receivers write its main database)."""
    with database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
def spool(store: Store) -> Iterator[Store]:
    opened = open_spool(store)
    assert opened is not None
    yield opened
    opened.dispose()


def _receive(spool: Store, n: int, subject: str = "printer on fire") -> int:
    return receive_raw(spool, compose(message_id=f"<{n}@example.org>", subject=subject).encode())


def _worker(settings: Settings, store: Store, spool: Store) -> Worker:
    return Worker(settings, store, clock=SystemClock(), ids=SecretsIds(), spool=spool)


def _intake(store: Store) -> list[tuple[int, IntakeStatus]]:
    with store.reading() as session:
        query = select(IntakeRecord.id, IntakeRecord.status).order_by(IntakeRecord.id)
        return [(row.id, row.status) for row in session.execute(query)]


def _tickets(store: Store) -> int:
    with store.reading() as session:
        return session.scalar(select(func.count()).select_from(Ticket)) or 0


def test_spooled_mail_becomes_a_ticket_under_its_own_id(
    settings: Settings, store: Store, spool: Store
) -> None:
    ids = [_receive(spool, n) for n in range(3)]
    assert _intake(store) == []  # the main database has not seen them yet
    assert _worker(settings, store, spool).take_batch().taken == 3
    assert _intake(store) == [(i, IntakeStatus.PROCESSED) for i in ids]
    assert spooled_count(spool) == 0
    assert len(maildir_messages(settings.outbound.maildir)) == 3


def test_a_crash_after_the_move_and_before_the_delete_takes_nothing_twice(
    settings: Settings, store: Store, spool: Store
) -> None:
    first = _receive(spool, 1)
    # The state a crash leaves: the move committed, the spool not yet emptied.
    rows = read_spooled(spool, 10)
    with store.connection() as connection:
        assert copy_into(connection, rows) == 1
    second = _receive(spool, 2)
    worker = _worker(settings, store, spool)
    while worker.take_batch().taken:
        pass
    assert _intake(store) == [(first, IntakeStatus.PROCESSED), (second, IntakeStatus.PROCESSED)]
    assert _tickets(store) == 2
    assert spooled_count(spool) == 0


def test_a_deleted_spool_never_hands_out_an_id_twice(
    settings: Settings, store: Store, spool: Store
) -> None:
    for n in range(3):
        _receive(spool, n)
    _worker(settings, store, spool).take_batch()
    spool.dispose()
    path = spool_path(store.url)
    assert path is not None
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    reopened = open_spool(store)
    assert reopened is not None
    try:
        assert _receive(reopened, 4) == 4
    finally:
        reopened.dispose()


def test_an_id_taken_behind_the_spools_back_keeps_both_mails(
    settings: Settings, store: Store, spool: Store
) -> None:
    spooled = _receive(spool, 1, subject="from the spool")
    # Someone wrote to the main database directly (an old `ingest`, a restore).
    direct = _receive(store, 2, subject="written directly")
    assert spooled == direct == 1
    worker = _worker(settings, store, spool)
    while worker.take_batch().taken:
        pass
    with store.reading() as session:
        subjects = sorted(session.scalars(select(Ticket.subject)))
    assert subjects == ["from the spool", "written directly"]
    assert spooled_count(spool) == 0


def test_a_failing_batch_moves_its_records_before_counting_the_failure(
    settings: Settings, store: Store, spool: Store
) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER poison BEFORE INSERT ON ticket WHEN NEW.subject = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned subject'); END"
            )
        )
    for n, subject in enumerate(["fine", "poison", "also fine"]):
        _receive(spool, n, subject=subject)
    assert _worker(settings, store, spool).take_batch().taken == 2
    assert spooled_count(spool) == 0
    with store.reading() as session:
        poisoned = session.scalars(select(IntakeRecord).where(IntakeRecord.id == 2)).one()
    assert poisoned.status is IntakeStatus.PENDING
    assert poisoned.attempts == 1
    assert poisoned.error is not None
    assert "poisoned subject" in poisoned.error


def test_postgresql_and_memory_databases_have_no_spool(tmp_path: Path) -> None:
    assert spool_path("postgresql+psycopg://u@127.0.0.1/db") is None
    assert spool_path("sqlite://") is None
    assert spool_path(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db.spool"
