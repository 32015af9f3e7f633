"""What a forger, a broken mailer or a second node cannot make the help desk do.

Each test is an attack or an accident found in review: forged agent mail, forged
or delayed bounces, a reused Message-ID, automatic notices to autoresponders,
a mail delivered twice, two nodes counting the same rate limit.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from mailbridge.engine.actions import Change, set_fields
from mailbridge.engine.intake import IncomingMail, receive
from mailbridge.engine.threads import links_of
from mailbridge.ids import SecretsIds
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import Article, OutboxMessage, Ticket, UndeliverableAddress
from mailbridge.worker import Worker
from tests.integration.test_bounces import dsn
from tests.support.clock import StepClock
from tests.support.desk import LocalDesk
from tests.support.participants import compose, out_of_office

HELPDESK = "helpdesk@example.org"
AGENT = "agnes@example.org"


@pytest.fixture
def desk(settings: Settings, store: Store) -> LocalDesk:
    return LocalDesk(replace(settings, agents=(AgentSettings(address=AGENT, name="Agnes"),)), store)


def _mail(
    desk: LocalDesk,
    sender: str,
    subject: str,
    body: str,
    *,
    envelope: str | None = None,
    in_reply_to: str | None = None,
    message_id: str | None = None,
) -> str:
    mid, raw = compose(
        sender=sender,
        to=[HELPDESK],
        subject=subject,
        body=body,
        in_reply_to=in_reply_to,
        message_id=message_id,
    )
    desk.receive(raw, sender=envelope or sender, to=[HELPDESK])
    desk.take()
    return mid


def _undeliverable(store: Store) -> list[str]:
    with store.reading() as session:
        return list(session.scalars(select(UndeliverableAddress.address)))


def _texts(desk: LocalDesk) -> list[tuple[str, str]]:
    with desk.store.reading() as session:
        rows = session.execute(select(Ticket.ref, Article.text).join(Article)).all()
    return [(ref, text.strip()) for ref, text in rows]


def test_a_forged_agent_from_is_kept_not_relayed(desk: LocalDesk) -> None:
    _mail(desk, "rita@example.org", "printer jam", "It jammed.")
    [ack] = desk.sent()
    # The tag and the From of an agent, sent by someone else: kept as inbound mail.
    _mail(
        desk,
        AGENT,
        "Re: [INC-1001] printer jam",
        "Reset at evil.example",
        envelope="m@evil.example",
    )
    # Even answering our mail (a strong key): the envelope is not the agent's.
    _mail(
        desk,
        AGENT,
        "Re: printer jam",
        "Reset at evil.example",
        envelope="m@evil.example",
        in_reply_to=str(ack["Message-ID"]),
    )
    assert desk.sent() == []
    kinds = [a[0] for a in desk.ticket("INC-1001")["articles"]]
    assert "outbound_reply" not in kinds


def test_a_forged_or_delayed_bounce_silences_nobody(desk: LocalDesk, store: Store) -> None:
    _mail(desk, "rita@example.org", "printer jam", "It jammed.")
    [ack] = desk.sent()
    forged = dsn(failed="rita@example.org", original_id="<whatever@x.example>", to=HELPDESK)
    forged = forged.replace(b"From: MAILER-DAEMON@mx.example.net", b"From: rita@example.org")
    forged = forged.replace(b"Returned to Sender", b"Returned to Sender [INC-1001]")
    desk.receive(forged, sender="", to=[HELPDESK])
    with store.reading() as session:
        envelope_sender = session.scalars(select(OutboxMessage.sender)).one()
    delayed = dsn(failed="rita@example.org", original_id=str(ack["Message-ID"]), to=envelope_sender)
    delayed = delayed.replace(b"Action: failed\nStatus: 5.1.1", b"Action: delayed\nStatus: 4.4.7")
    desk.receive(delayed, sender="", to=[envelope_sender])
    desk.take()
    assert _undeliverable(store) == []


def test_tickets_opened_by_machines_get_no_notices(desk: LocalDesk) -> None:
    _, raw = out_of_office(sender="ooo@client.example", to=HELPDESK, subject="hello", parent=None)
    desk.receive(raw, sender="ooo@client.example", to=[HELPDESK])
    desk.receive(
        dsn(failed="x@y.example", original_id="<nope@nowhere.example>", to=HELPDESK),
        sender="",
        to=[HELPDESK],
    )
    desk.take()
    assert desk.refs() == ["INC-1001", "INC-1002"]
    for ref in desk.refs():
        desk.act(set_fields, ref, [Change("status", "resolved")], AGENT)
    desk.clock.advance(days=8)
    desk.worker.housekeeping(force=True)
    desk.worker.deliver()
    assert desk.sent() == []
    assert desk.ticket("INC-1002")["status"] == "closed"


def test_agents_get_no_acknowledgement(desk: LocalDesk) -> None:
    _mail(desk, AGENT, "new laptop for Bob", "Please order one.")
    assert desk.refs() == ["INC-1001"]
    assert desk.sent() == []


def test_an_agents_reply_delivered_twice_is_sent_once(desk: LocalDesk) -> None:
    _mail(desk, "rita@example.org", "printer jam", "It jammed.")
    [ack] = desk.sent()
    _, raw = compose(
        sender=AGENT,
        to=[str(ack["Reply-To"])],
        subject="Re: [INC-1001] printer jam",
        body="Cleared.",
        in_reply_to=str(ack["Message-ID"]),
    )
    # Two mailboxes hand over the same mail: one Delivered-To line differs.
    for mailbox in ("helpdesk", "support"):
        desk.receive(
            b"Delivered-To: %s@example.org\r\n" % mailbox.encode() + raw,
            sender=AGENT,
            to=[HELPDESK],
        )
    desk.take()
    assert len(desk.sent()) == 1
    assert [a[0] for a in desk.ticket("INC-1001")["articles"]].count("outbound_reply") == 1


def test_a_reused_message_id_cannot_pull_replies_to_another_ticket(desk: LocalDesk) -> None:
    _mail(desk, "rita@example.org", "printer jam", "It jammed.")
    [ack] = desk.sent()
    ack_id = str(ack["Message-ID"])
    original = _mail(desk, "sam@example.org", "vpn", "Down.")
    desk.sent()
    # Someone who saw those ids writes mails claiming them as their own.
    _mail(desk, "mallory@evil.example", "hi", "one", message_id=ack_id)
    _mail(desk, "mallory@evil.example", "hi", "two", message_id=original)
    desk.sent()
    _mail(desk, "rita@example.org", "Re: printer jam", "secret one", in_reply_to=ack_id)
    _mail(desk, "sam@example.org", "Re: vpn", "secret two", in_reply_to=original)
    texts = _texts(desk)
    assert ("INC-1001", "secret one") in texts
    assert ("INC-1002", "secret two") in texts


def test_a_strangers_autoreply_naming_a_ticket_links_nothing(desk: LocalDesk) -> None:
    _mail(desk, "rita@example.org", "printer jam", "It jammed.")
    desk.sent()
    _, raw = out_of_office(
        sender="bob@other.example", to=HELPDESK, subject="[INC-1001] printer jam", parent=None
    )
    desk.receive(raw, sender="bob@other.example", to=[HELPDESK])
    desk.take()
    assert desk.refs() == ["INC-1001", "INC-1002"]
    assert desk.sent() == []
    with desk.store.reading() as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.ref == "INC-1002"))
        assert ticket_id is not None
        assert links_of(session, ticket_id) == []


def test_two_nodes_keep_one_rate_limit(settings: Settings, store: Store) -> None:
    """Two workers take mails of the same bot at the same instant (one per queue):
    with automatic_per_hour = 1, one acknowledgement in all, round after round."""
    settings = replace(settings, outbound=replace(settings.outbound, automatic_per_hour=1))
    clock = StepClock()
    nodes = [Worker(settings, store, clock=clock, ids=SecretsIds()) for _ in range(2)]
    for round_ in range(10):
        bot = f"bot{round_}@client.example"
        ids = []
        for queue in ("helpdesk@example.org", "requests@example.org"):
            _, raw = compose(sender=bot, to=[queue], subject="hi", body="b")
            mail = IncomingMail(
                raw=raw, envelope_sender=bot, envelope_recipients=(queue,), adapter="smtp"
            )
            ids.append(receive(store, mail, clock))
        start = threading.Barrier(2)

        def take(node: Worker, record_id: int, start: threading.Barrier) -> None:
            start.wait()
            node.take_batch(only=[record_id])

        threads = [
            threading.Thread(target=take, args=(node, record_id, start))
            for node, record_id in zip(nodes, ids, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with store.reading() as session:
            acks = session.scalar(select(func.count()).select_from(OutboxMessage))
        assert acks == round_ + 1  # one more acknowledgement per round, never two
