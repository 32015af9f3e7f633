"""The SMTP receiver against real clients, with the worker and Maildir delivery behind it."""

from __future__ import annotations

import smtplib
import sqlite3
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from mailbridge.clock import SystemClock
from mailbridge.ids import SecretsIds
from mailbridge.settings import Settings
from mailbridge.store import Store
from mailbridge.store.models import Article, IntakeRecord, IntakeStatus, OutboxMessage, Ticket
from mailbridge.worker import Worker
from tests.support.mails import compose, maildir_messages, send
from tests.support.proxy import proxy_to
from tests.support.smtp import running_receiver


def _settle(settings: Settings, store: Store) -> None:
    worker = Worker(settings, store, clock=SystemClock(), ids=SecretsIds())
    while worker.take_batch().taken:
        pass
    worker.deliver()


def _count(store: Store, model: type) -> int:
    with store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_new_mail_opens_a_ticket_and_is_acknowledged(settings: Settings, store: Store) -> None:
    with running_receiver(settings, store) as receiver:
        assert send(receiver.port, compose(message_id="<1@example.org>")) == {}
    assert len(receiver.stored) == 1
    _settle(settings, store)
    with store.transaction() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.ref, ticket.subject, ticket.requester, ticket.status) == (
            "INC-1001",
            "printer on fire",
            "alice@example.org",
            "new",
        )
    [ack] = maildir_messages(settings.outbound.maildir)
    assert ack["Subject"] == "[INC-1001] printer on fire"
    assert ack["To"] == "alice@example.org"
    assert ack["In-Reply-To"] == "<1@example.org>"
    assert "<1@example.org>" in ack["References"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Message-ID"] not in ("<1@example.org>", None)


def test_unknown_recipient_gets_550_and_nothing_is_stored(settings: Settings, store: Store) -> None:
    with running_receiver(settings, store) as receiver:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(
                receiver.port,
                compose(message_id="<2@example.org>"),
                recipients=("nobody@example.org",),
            )
        [(code, _text)] = refused.value.recipients.values()
        assert code == 550
        # One good and one bad recipient: the good one is taken, the bad one refused.
        refusals = send(
            receiver.port,
            compose(message_id="<3@example.org>"),
            recipients=("nobody@example.org", "helpdesk@example.org"),
        )
        assert refusals["nobody@example.org"][0] == 550
    assert _count(store, IntakeRecord) == 1


def test_mail_over_the_size_limit_gets_552(settings: Settings, store: Store) -> None:
    small = replace(settings, smtp=replace(settings.smtp, max_message_size=4096))
    big = compose(message_id="<big@example.org>", body=("x" * 70 + "\n") * 150)
    with running_receiver(small, store) as receiver:
        # Announced with SIZE (smtplib does when the server offers it): refused at MAIL FROM.
        with pytest.raises(smtplib.SMTPSenderRefused) as announced:
            send(receiver.port, big)
        assert announced.value.smtp_code == 552
        # Not announced: refused at the end of DATA.
        with smtplib.SMTP("127.0.0.1", receiver.port) as client:
            client.ehlo()
            assert client.mail("alice@example.org")[0] == 250
            assert client.rcpt("helpdesk@example.org")[0] == 250
            code, _ = client.data(big.replace("\n", "\r\n").encode())
            assert code == 552
    assert _count(store, IntakeRecord) == 0


def test_several_recipients_open_a_ticket_in_each_queue(settings: Settings, store: Store) -> None:
    with running_receiver(settings, store) as receiver:
        send(
            receiver.port,
            compose(message_id="<multi@example.org>"),
            recipients=("helpdesk@example.org", "Requests@Example.org"),
        )
    _settle(settings, store)
    with store.transaction() as session:
        tickets = {t.ref: t.type.value for t in session.scalars(select(Ticket))}
    assert tickets == {"INC-1001": "incident", "REQ-1001": "service_request"}
    subjects = sorted(m["Subject"] for m in maildir_messages(settings.outbound.maildir))
    assert subjects == ["[INC-1001] printer on fire", "[REQ-1001] printer on fire"]


def test_the_same_mail_delivered_twice_makes_one_ticket(settings: Settings, store: Store) -> None:
    text = compose(message_id="<again@example.org>")
    with running_receiver(settings, store) as receiver:
        send(receiver.port, text)
        _settle(settings, store)
        send(receiver.port, text)  # an MTA retry after it lost our 250
        _settle(settings, store)
        # Same Message-ID, different bytes: a different mail, not a duplicate.
        send(receiver.port, compose(message_id="<again@example.org>", body="second thoughts"))
        _settle(settings, store)
    with store.transaction() as session:
        statuses = list(session.scalars(select(IntakeRecord.status).order_by(IntakeRecord.id)))
        tickets = session.scalar(select(func.count()).select_from(Ticket))
    assert statuses == [IntakeStatus.PROCESSED, IntakeStatus.DUPLICATE, IntakeStatus.PROCESSED]
    assert tickets == 2
    assert len(maildir_messages(settings.outbound.maildir)) == 2


@pytest.mark.parametrize(
    ("sender", "headers", "why"),
    [
        ("alice@example.org", {"Auto-Submitted": "auto-replied"}, "auto-reply"),
        ("alice@example.org", {"X-Autoreply": "yes"}, "auto-reply"),
        ("alice@example.org", {"Precedence": "bulk"}, "bulk"),
        ("alice@example.org", {"Precedence": "junk"}, "bulk"),
        ("alice@example.org", {"List-Id": "<team.lists.example.org>"}, "bulk"),
        ("MAILER-DAEMON@example.org", {}, "bounce"),
        ("postmaster@example.org", {}, "bounce"),
        ("", {}, "empty envelope sender"),
        ("helpdesk@example.org", {}, "our own address"),
        (
            "alice@example.org",
            {"Content-Type": 'multipart/report; report-type=delivery-status; boundary="b"'},
            "bounce",
        ),
    ],
)
def test_automatic_mail_gets_no_acknowledgement(
    settings: Settings, store: Store, sender: str, headers: dict[str, str], why: str
) -> None:
    from_header = sender or "alice@example.org"
    text = compose(message_id="<auto@example.org>", sender=from_header, headers=headers)
    with running_receiver(settings, store) as receiver:
        send(receiver.port, text, sender=sender)
    _settle(settings, store)
    assert _count(store, Ticket) == 1, "the mail is kept on a ticket all the same"
    assert _count(store, OutboxMessage) == 0, why
    assert maildir_messages(settings.outbound.maildir) == []


def test_451_while_the_database_is_down_then_250(settings: Settings, tmp_path) -> None:
    url = make_url(settings.database.url)
    text = compose(message_id="<down@example.org>")
    if url.get_backend_name() == "sqlite":
        store = Store(settings.database.url, lock_timeout=0.5)
        blocker = sqlite3.connect(url.database or "", isolation_level=None)
        with running_receiver(settings, store) as receiver:
            blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                send(receiver.port, text)
            assert deferred.value.smtp_code == 451
            blocker.execute("ROLLBACK")
            assert send(receiver.port, text) == {}
        blocker.close()
    else:
        with proxy_to(url.host or "127.0.0.1", url.port or 5432) as proxy:
            via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            store = Store(via_proxy, lock_timeout=1.0)
            with running_receiver(settings, store) as receiver:
                assert send(receiver.port, compose(message_id="<before@example.org>")) == {}
                proxy.cut()
                with pytest.raises(smtplib.SMTPDataError) as deferred:
                    send(receiver.port, text)
                assert deferred.value.smtp_code == 451
                proxy.restore()
                assert send(receiver.port, text) == {}
            store.dispose()
    check = Store(settings.database.url)
    with check.transaction() as session:
        ids = list(session.scalars(select(IntakeRecord.message_id)))
    check.dispose()
    assert ids.count("<down@example.org>") == 1, "the deferred attempt left nothing behind"


def test_thread_key_and_article_are_recorded(settings: Settings, store: Store) -> None:
    with running_receiver(settings, store) as receiver:
        send(receiver.port, compose(message_id="<art@example.org>", body="the text"))
    _settle(settings, store)
    with store.transaction() as session:
        inbound, ack = session.scalars(select(Article).order_by(Article.id)).all()
    assert (inbound.message_id, inbound.text, inbound.thread_key) == (
        "<art@example.org>",
        "the text",
        "new",
    )
    assert ack.kind.value == "notification"
    assert ack.message_id is not None
    assert ack.message_id.startswith("<INC-1001.")


def test_nul_characters_never_stop_a_mail(settings: Settings, store: Store) -> None:
    # PostgreSQL refuses NUL in text columns; a mail carrying one must still become a ticket.
    text = compose(
        message_id="<nul@example.org>", subject="=?utf-8?q?a=00b?=", body="before\x00after"
    )
    with running_receiver(settings, store) as receiver:
        send(receiver.port, text)
    _settle(settings, store)
    with store.transaction() as session:
        ticket = session.scalars(select(Ticket)).one()
        inbound = session.scalars(select(Article).order_by(Article.id)).first()
    assert ticket.subject == "ab"
    assert inbound is not None
    assert inbound.text == "beforeafter"
