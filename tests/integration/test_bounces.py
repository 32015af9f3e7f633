"""A delivery failure report about our own mail: the address is marked undeliverable,
the ticket says so, and nothing more is sent there. A report about an address the
ticket never mailed changes nothing."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from sqlalchemy import select

from mailbridge.cli import main
from mailbridge.engine.actions import reply
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store import Store
from mailbridge.store.models import OutboxMessage, UndeliverableAddress
from tests.support.desk import LocalDesk
from tests.support.participants import compose

HELPDESK = "helpdesk@example.org"
AGENT = "agnes@example.org"


def dsn(*, failed: str, original_id: str, to: str) -> bytes:
    """An RFC 3464 report as Postfix writes it, with the original's headers."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.net"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<bounce.1@mx.example.net>"
    report["Auto-Submitted"] = "auto-replied"
    report.attach(
        MIMEText(
            f"I'm sorry to have to inform you that your message could not\n"
            f"be delivered to {failed}.\n"
        )
    )
    status = EmailMessage()
    status.set_payload(
        f"Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; {failed}\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n"
    )
    part = MIMEMessage(status, "delivery-status")
    report.attach(part)
    headers = MIMEText(
        f"From: {HELPDESK}\nTo: {failed}\nMessage-ID: {original_id}\n\n", "rfc822-headers"
    )
    report.attach(headers)
    return report.as_bytes()


def test_a_bounce_to_our_envelope_sender_stops_mail_to_that_address(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(settings, agents=(AgentSettings(address=AGENT, name="Agnes"),))
    desk = LocalDesk(settings, store)
    _, raw = compose(
        sender="rita@example.org", to=[HELPDESK], cc=["colin@example.org"], subject="s", body="b"
    )
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    desk.take()
    [ack] = desk.sent()
    with store.reading() as session:
        envelope_sender = session.scalars(select(OutboxMessage.sender)).one()
    assert envelope_sender.startswith("helpdesk+INC-1001.")

    # The report comes back to the envelope sender (VERP); the stranger's is ignored.
    for failed in ("rita@example.org", "someone-else@example.org"):
        report = dsn(failed=failed, original_id=str(ack["Message-ID"]), to=envelope_sender)
        desk.receive(report, sender="", to=[envelope_sender])
    desk.take()

    with store.reading() as session:
        assert list(session.scalars(select(UndeliverableAddress.address))) == ["rita@example.org"]
    notes = [a for a in desk.ticket("INC-1001")["articles"] if a[0] == "internal_note"]
    assert len(notes) == 1
    assert "rita@example.org could not be delivered" in notes[0][3]
    assert desk.refs() == ["INC-1001"]
    assert desk.sent() == []  # a bounce is never answered

    desk.act(reply, "INC-1001", AGENT, "Fixed.")
    [answer] = desk.sent()
    assert answer["To"] == "colin@example.org"
    assert answer["Cc"] is None

    # The admin fixed the mailbox: clearing the mark lets mail go there again.
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", settings.database.url)
    assert main(["undeliverable", "clear", "Rita@example.org"]) == 0
    assert main(["undeliverable", "clear", "rita@example.org"]) == 64
    desk.act(reply, "INC-1001", AGENT, "Back again.")
    [answer] = desk.sent()
    assert answer["To"] == "rita@example.org"


def test_a_bounce_naming_our_message_id_finds_its_ticket_without_verp(
    settings: Settings, store: Store
) -> None:
    """Some MTAs bounce to the From address, not the envelope sender: the returned
    copy's Message-ID is then what names the ticket."""
    desk = LocalDesk(settings, store)
    _, raw = compose(sender="rita@example.org", to=[HELPDESK], subject="s", body="b")
    desk.receive(raw, sender="rita@example.org", to=[HELPDESK])
    desk.take()
    [ack] = desk.sent()
    report = dsn(failed="rita@example.org", original_id=str(ack["Message-ID"]), to=HELPDESK)
    desk.receive(report, sender="", to=[HELPDESK])
    desk.take()

    assert desk.refs() == ["INC-1001"]
    kinds = [(a[0], a[1]) for a in desk.ticket("INC-1001")["articles"]]
    assert ("inbound_reply", "signed-message-id") in kinds
    with store.reading() as session:
        assert list(session.scalars(select(UndeliverableAddress.address))) == ["rita@example.org"]
