"""Delivering the outbox to a real SMTP relay (an aiosmtpd sink) and to a Maildir."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from mailbridge.engine.actions import reply
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import OutboxMessage, OutboxStatus
from notifiers.delivery import MaildirTransport, SmtpTransport, deliver_due
from tests.support.clock import StepClock
from tests.support.desk import LocalDesk
from tests.support.mails import compose as compose_mail
from tests.support.mails import maildir_messages
from tests.support.ports import free_port
from tests.support.smtp import smtp_sink

AGENT = "agnes@example.org"


def _queue_mail(store: Store, clock: StepClock, n: int = 1) -> list[int]:
    ids = []
    with store.transaction() as session:
        for i in range(n):
            row = OutboxMessage(
                kind="acknowledgement",
                sender="helpdesk@example.org",
                recipients=["alice@example.org"],
                message_id=f"<out{i}@example.org>",
                raw=f"From: helpdesk@example.org\r\nTo: alice@example.org\r\nSubject: {i}\r\n"
                f"Message-ID: <out{i}@example.org>\r\n\r\nhello\r\n".encode(),
                status=OutboxStatus.PENDING,
                attempts=0,
                created_at=clock.now(),
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
    return ids


def _rows(store: Store) -> list[OutboxMessage]:
    with store.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_relay_gets_the_mail_once(settings: Settings, store: Store) -> None:
    clock = StepClock()
    _queue_mail(store, clock, n=3)
    with smtp_sink() as (sink, port):
        outbound = replace(settings.outbound, mode="smtp", relay_port=port)
        assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 3
        assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 0
    assert [m.recipients for m in sink.mails] == [["alice@example.org"]] * 3
    assert all(r.status is OutboxStatus.SENT for r in _rows(store))


def test_relay_down_means_retry_with_backoff_never_loss(settings: Settings, store: Store) -> None:
    clock = StepClock()
    _queue_mail(store, clock)
    outbound = replace(settings.outbound, mode="smtp", relay_port=free_port(), timeout=2.0)
    assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 0
    [row] = _rows(store)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.last_error is not None
    assert row.next_attempt_at is not None
    first_wait = row.next_attempt_at - clock.now()
    # Not due yet: nothing is tried.
    assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 0
    assert _rows(store)[0].attempts == 1
    clock.advance(seconds=first_wait.total_seconds())
    assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 0
    [row] = _rows(store)
    assert row.attempts == 2
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - clock.now() > first_wait, "backoff grows"
    clock.advance(hours=3)
    with smtp_sink() as (sink, port):
        outbound = replace(outbound, relay_port=port)
        assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 1
    assert len(sink.mails) == 1
    assert _rows(store)[0].status is OutboxStatus.SENT


def test_temporary_refusal_retries_permanent_refusal_fails(
    settings: Settings, store: Store
) -> None:
    clock = StepClock()
    _queue_mail(store, clock)
    with smtp_sink() as (sink, port):
        outbound = replace(settings.outbound, mode="smtp", relay_port=port)
        sink.fail_with = "451 4.3.0 try later"
        deliver_due(store, outbound, SmtpTransport(outbound), clock)
        assert _rows(store)[0].status is OutboxStatus.PENDING
        clock.advance(hours=3)
        sink.fail_with = "554 5.7.1 rejected"
        deliver_due(store, outbound, SmtpTransport(outbound), clock)
    [row] = _rows(store)
    assert row.status is OutboxStatus.FAILED
    assert row.last_error is not None
    assert "554" in row.last_error
    assert sink.mails == []


def test_maildir_rewrites_instead_of_duplicating(
    settings: Settings, store: Store, tmp_path
) -> None:
    clock = StepClock()
    _queue_mail(store, clock, n=2)
    transport = MaildirTransport(tmp_path / "md")
    assert deliver_due(store, settings.outbound, transport, clock) == 2
    # A crash after writing but before marking sent: the lease expires, the mail is due again.
    with store.transaction() as session:
        for row in session.scalars(select(OutboxMessage)):
            row.status = OutboxStatus.PENDING
    clock.advance(hours=1)
    assert deliver_due(store, settings.outbound, transport, clock) == 2
    assert len(maildir_messages(tmp_path / "md")) == 2


def test_a_refused_login_is_retried_not_failed(settings: Settings, store: Store) -> None:
    # The sink offers no AUTH: login fails for the session, not for the mail.
    clock = StepClock()
    _queue_mail(store, clock)
    with smtp_sink() as (sink, port):
        outbound = replace(settings.outbound, mode="smtp", relay_port=port, user="u", password="p")
        assert deliver_due(store, outbound, SmtpTransport(outbound), clock) == 0
    [row] = _rows(store)
    assert row.status is OutboxStatus.PENDING
    assert sink.mails == []


def test_a_failure_for_good_shows_on_the_ticket(settings: Settings, store: Store) -> None:
    """A 5xx fails at once; a 4xx retries until the mail is max_age_hours old. Both say
    so on the ticket, where the agent looks."""
    with smtp_sink() as (sink, port):
        outbound = replace(settings.outbound, mode="smtp", relay_port=port, max_age_hours=6)
        desk = LocalDesk(replace(settings, outbound=outbound), store)
        sink.fail_with = "550 5.1.1 no such user"
        desk.receive(
            compose_mail(message_id="<a@example.org>").encode(),
            sender="a@x.org",
            to=["helpdesk@example.org"],
        )
        desk.take()
        sink.fail_with = "451 4.3.0 try later"
        desk.receive(
            compose_mail(message_id="<b@example.org>", sender="bob@example.org").encode(),
            sender="bob@example.org",
            to=["helpdesk@example.org"],
        )
        desk.take()
        for _ in range(8):  # retries, each when due, until the mail is six hours old
            desk.clock.advance(hours=1)
            deliver_due(store, outbound, SmtpTransport(outbound), desk.clock)
    assert sink.mails == []
    first, second = _rows(store)
    assert (first.status, first.attempts) == (OutboxStatus.FAILED, 1)
    assert second.status is OutboxStatus.FAILED
    assert 1 < second.attempts < outbound.max_attempts
    for ref, error in [("INC-1001", "550 5.1.1"), ("INC-1002", "451 4.3.0")]:
        notes = [a for a in desk.ticket(ref)["articles"] if a[0] == "internal_note"]
        assert len(notes) == 1
        assert error in notes[0][3]


def test_recipients_refused_one_by_one_are_retried_or_reported(
    settings: Settings, store: Store
) -> None:
    """A relay that takes the mail for the requester but defers one watcher (4xx)
    and refuses another (5xx): the first watcher is tried again, the second shows
    on the ticket, nobody gets it twice."""
    with smtp_sink() as (sink, port):
        outbound = replace(settings.outbound, mode="smtp", relay_port=port)
        desk = LocalDesk(
            replace(settings, outbound=outbound, agents=(AgentSettings(address=AGENT),)), store
        )
        cc = "Cc: later@example.org, gone@example.org\n"
        desk.receive(
            compose_mail(message_id="<a@example.org>", headers={"Cc": cc[4:].strip()}).encode(),
            sender="alice@example.org",
            to=["helpdesk@example.org"],
        )
        desk.take()
        sink.refuse = {"later@example.org": "450 4.2.1 busy", "gone@example.org": "550 5.1.1 no"}
        desk.act(reply, "INC-1001", AGENT, "Fixed.")
        sink.refuse = {}
        desk.clock.advance(hours=1)
        desk.worker.deliver()
    # The acknowledgement, the reply as the relay took it, the deferred watcher's retry.
    assert [m.recipients for m in sink.mails] == [
        ["alice@example.org"],
        ["alice@example.org"],
        ["later@example.org"],
    ]
    notes = [a for a in desk.ticket("INC-1001")["articles"] if a[0] == "internal_note"]
    assert len(notes) == 1
    assert "gone@example.org" in notes[0][3]
    assert "550 5.1.1" in notes[0][3]
    assert "later@example.org" not in notes[0][3]
