"""Threading decisions on a real database, through the real worker, with a clock in hand.

The scenarios of tests/e2e/test_conversation.py cover the main reply styles
against the running daemon; these cover the rules around them: who may use a
weak key, what a forged or lost key does, what automatic mail may change.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import delete, select, update

from mailbridge.engine.actions import reply
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import Article, ArticleKind, OutboxMessage, Ticket
from tests.support.desk import LocalDesk
from tests.support.participants import compose, out_of_office

HELPDESK = "helpdesk@example.org"
AGENT = "agnes@example.org"


@pytest.fixture
def desk(settings: Settings, store: Store) -> LocalDesk:
    return LocalDesk(replace(settings, agents=(AgentSettings(address=AGENT, name="Agnes"),)), store)


def _mail(desk: LocalDesk, sender: str, subject: str, body: str, **kwargs: object) -> str:
    to = kwargs.pop("to", [HELPDESK])
    assert isinstance(to, list)
    message_id, raw = compose(sender=sender, to=to, subject=subject, body=body, **kwargs)  # type: ignore[arg-type]
    desk.receive(raw, sender=sender, to=to)
    desk.take()
    return message_id


def _open(desk: LocalDesk, sender: str = "rita@example.org", **kwargs: object) -> str:
    """Open INC-1001 (or the next); return the acknowledgement's Message-ID."""
    _mail(desk, sender, "printer jam", "It jammed.", **kwargs)
    [ack] = desk.sent()
    return str(ack["Message-ID"])


def test_a_tag_threads_for_a_watcher_and_an_agent_but_only_a_strong_key_relays(
    desk: LocalDesk,
) -> None:
    ack_id = _open(desk, cc=["colin@example.org"])
    _mail(desk, "colin@example.org", "Re: [INC-1001] printer jam", "Me too.")
    # An agent's mail with only the tag is kept (From is easy to forge) ...
    _mail(desk, AGENT, "Re: [INC-1001] printer jam", "Looking at it.")
    assert desk.sent() == []
    # ... one answering our mail is a public reply, sent on to requester and watchers.
    _mail(desk, AGENT, "Re: [INC-1001] printer jam", "Cleared the tray.", in_reply_to=ack_id)

    assert desk.refs() == ["INC-1001"]
    articles = desk.ticket("INC-1001")["articles"]
    assert ("inbound_reply", "tag", "colin@example.org", "Me too.") in articles
    assert ("inbound_reply", "tag", AGENT, "Looking at it.") in articles
    assert ("outbound_reply", "signed-message-id", AGENT, "Cleared the tray.") in articles
    [reply] = desk.sent()
    assert {reply["To"], reply["Cc"]} == {"rita@example.org", "colin@example.org"}


def test_our_signed_message_id_finds_the_ticket_after_the_rows_are_gone(
    desk: LocalDesk, store: Store
) -> None:
    ack_id = _open(desk)
    with store.transaction() as session:
        session.execute(delete(OutboxMessage))
        session.execute(delete(Article).where(Article.kind == ArticleKind.NOTIFICATION))
    _mail(desk, "someone@example.org", "no tag here", "Still jammed.", in_reply_to=ack_id)

    assert desk.refs() == ["INC-1001"]
    assert desk.ticket("INC-1001")["articles"][-1][:2] == ("inbound_reply", "signed-message-id")


def test_a_forged_token_or_message_id_threads_nothing(desk: LocalDesk) -> None:
    ack_id = _open(desk)
    left, _, domain = ack_id.strip("<>").partition("@")
    ref, mac, rest = left.split(".", 2)
    forged_id = f"<{ref}.{'a' * len(mac)}.{rest}@{domain}>"
    _mail(desk, "mallory@evil.example", "hello", "one", in_reply_to=forged_id)
    forged_to = f"helpdesk+{ref}.{'b' * len(mac)}@example.org"
    _mail(desk, "mallory@evil.example", "hello", "two", to=[forged_to])

    assert desk.refs() == ["INC-1001", "INC-1002", "INC-1003"]
    assert len(desk.ticket("INC-1001")["articles"]) == 2  # the mail and its acknowledgement


def test_automatic_mail_is_kept_on_the_ticket_and_changes_nothing(
    desk: LocalDesk, store: Store
) -> None:
    ack_id = _open(desk)
    with store.transaction() as session:
        session.execute(update(Ticket).values(status="resolved"))
    _, raw = out_of_office(
        sender="rita@example.org", to=HELPDESK, subject="[INC-1001] printer jam", parent=ack_id
    )
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    desk.take()

    ticket = desk.ticket("INC-1001")
    assert ticket["status"] == "resolved"
    assert ticket["articles"][-1][:2] == ("inbound_reply", "signed-message-id")
    assert desk.sent() == []


def test_a_reply_to_a_pending_ticket_puts_it_back_to_work(desk: LocalDesk, store: Store) -> None:
    _open(desk)
    with store.transaction() as session:
        session.execute(update(Ticket).values(status="pending"))
    _mail(desk, "rita@example.org", "Re: [INC-1001] printer jam", "Here is the log.")

    assert desk.ticket("INC-1001")["status"] == "in_progress"
    assert desk.sent() == []  # the requester knows what they wrote


def test_a_closed_change_is_closed_for_good(settings: Settings, store: Store) -> None:
    changes = replace(
        settings,
        queues=(replace(settings.queues[0], type="change", prefix="CHG"), *settings.queues[1:]),
    )
    desk = LocalDesk(changes, store)
    ack_id = _open(desk)
    with store.transaction() as session:
        session.execute(update(Ticket).values(status="closed", status_changed_at=desk.clock.now()))
    _mail(
        desk,
        "rita@example.org",
        "Re: [CHG-1001] printer jam",
        "One more thing.",
        in_reply_to=ack_id,
    )

    assert desk.refs() == ["CHG-1001", "CHG-1002"]


def test_a_reply_to_a_mail_of_the_same_batch_finds_its_ticket(desk: LocalDesk) -> None:
    first, raw = compose(sender="rita@example.org", to=[HELPDESK], subject="a", body="first")
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    _, raw = compose(
        sender="rita@example.org", to=[HELPDESK], subject="b", body="second", in_reply_to=first
    )
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    desk.take()

    assert desk.refs() == ["INC-1001"]
    assert [a[1] for a in desk.ticket("INC-1001")["articles"] if a[0] == "inbound_reply"] == [
        "new",
        "message-id",
    ]


def test_watchers_come_from_cc_but_never_our_addresses_or_agents(
    desk: LocalDesk, store: Store
) -> None:
    _open(desk, cc=["colin@example.org", AGENT, "requests@example.org", "Rita@example.org"])
    with store.reading() as session:
        from mailbridge.engine.threads import watchers_of

        ticket_id = session.scalar(select(Ticket.id))
        assert ticket_id is not None
        assert watchers_of(session, {ticket_id}) == {ticket_id: ["colin@example.org"]}


def test_a_reply_answers_the_requesters_mail_not_their_autoresponder(desk: LocalDesk) -> None:
    first, raw = compose(sender="rita@example.org", to=[HELPDESK], subject="vpn", body="Down.")
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    desk.take()
    [ack] = desk.sent()
    _, raw = out_of_office(
        sender="rita@example.org",
        to=HELPDESK,
        subject=str(ack["Subject"]),
        parent=str(ack["Message-ID"]),
    )
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    desk.take()
    desk.act(reply, "INC-1001", AGENT, "Try again now.")
    [answer] = desk.sent()
    assert answer["In-Reply-To"] == first
