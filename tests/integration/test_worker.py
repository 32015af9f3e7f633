"""The worker's batches: one poisoned mail costs its own retries, never its neighbours'.

The poison is a real database trigger that refuses one subject, standing in for
any bug that makes taking one mail fail; our code is not patched.
"""

from __future__ import annotations

from sqlalchemy import func, select, text

from mailbridge.clock import SystemClock
from mailbridge.ids import SecretsIds
from mailbridge.settings import Settings
from mailbridge.store import Store
from mailbridge.store.models import IntakeRecord, IntakeStatus, Ticket
from mailbridge.worker import Worker
from tests.support.mails import compose, receive_raw

SQLITE_POISON = """
CREATE TRIGGER poison BEFORE INSERT ON ticket WHEN NEW.subject = 'poison'
BEGIN SELECT RAISE(ABORT, 'poisoned subject'); END
"""
PG_POISON = [
    """CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
         IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'poisoned subject'; END IF;
         RETURN NEW; END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER poison BEFORE INSERT ON ticket FOR EACH ROW EXECUTE FUNCTION poison()",
]


def _poison(store: Store) -> None:
    with store.engine.begin() as connection:
        for statement in [SQLITE_POISON] if store.is_sqlite else PG_POISON:
            connection.execute(text(statement))


def _receive(store: Store, raw: bytes) -> int:
    return receive_raw(store, raw, adapter="pipe")


def test_one_failing_mail_does_not_hold_up_the_batch(settings: Settings, store: Store) -> None:
    _poison(store)
    for n, subject in enumerate(["fine", "poison", "also fine"]):
        _receive(store, compose(message_id=f"<{n}@example.org>", subject=subject).encode())
    worker = Worker(settings, store, clock=SystemClock(), ids=SecretsIds())
    result = worker.take_batch()
    assert result.taken == 2
    with store.transaction() as session:
        subjects = sorted(session.scalars(select(Ticket.subject)))
        poisoned = session.scalars(select(IntakeRecord).where(IntakeRecord.id == 2)).one()
    assert subjects == ["also fine", "fine"]
    assert poisoned.status is IntakeStatus.PENDING
    assert poisoned.attempts == 1
    assert poisoned.error is not None
    assert "poisoned subject" in poisoned.error
    # Retried when due, then quarantined with its reason after max_attempts.
    for _ in range(settings.intake.max_attempts - 1):
        worker.take_batch(only=[poisoned.id])
    with store.transaction() as session:
        record = session.get(IntakeRecord, poisoned.id)
        assert record is not None
        assert record.status is IntakeStatus.QUARANTINED
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2


def test_an_absurd_message_id_is_dropped_not_fatal(settings: Settings, store: Store) -> None:
    # Longer than any column (and any RFC 5322 line): PostgreSQL would refuse to store it.
    _receive(store, compose(message_id="<" + "x" * 2000 + "@example.org>").encode())
    assert Worker(settings, store, clock=SystemClock(), ids=SecretsIds()).take_batch().taken == 1


def test_two_nodes_taking_the_same_mail_at_once_open_one_ticket(
    settings: Settings, store: Store
) -> None:
    """Two workers (two nodes on PostgreSQL) each get one copy of a mail delivered
    twice, at the same instant, on a fresh database: exactly one ticket."""
    import threading

    rounds = 5
    for n in range(rounds):
        raw = compose(message_id=f"<twice{n}@example.org>", subject=f"twice {n}").encode()
        first, second = _receive(store, raw), _receive(store, raw)
        workers = [
            Worker(settings, Store(settings.database.url), clock=SystemClock(), ids=SecretsIds())
            for _ in range(2)
        ]
        start = threading.Barrier(2)

        def take(worker: Worker, record_id: int, start: threading.Barrier) -> None:
            start.wait()
            worker.take_batch(only=[record_id])

        threads = [
            threading.Thread(target=take, args=(w, r, start))
            for w, r in zip(workers, (first, second), strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for w in workers:
            w.store.dispose()
        with store.transaction() as session:
            statuses = sorted(
                s.value
                for s in session.scalars(
                    select(IntakeRecord.status).where(IntakeRecord.id.in_([first, second]))
                )
            )
        assert statuses == ["duplicate", "processed"], n
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == rounds
