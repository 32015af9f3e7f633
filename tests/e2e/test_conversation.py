"""A ticket conversation by mail against the running daemon (issue 5).

Scripted participants write over real SMTP the way their clients do; what the
daemon sends back is read from its Maildir, what it decided from `mailbridge
show --json`. Each reply style must land on the right ticket, and a stranger
who types another customer's ticket number must not get into that ticket.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import HELPDESK, REQUESTS, finish
from tests.support.daemon import Installation, clean_environment, write_config
from tests.support.helpdesk_state import backlog
from tests.support.mailflow import DeliveredMail, maildir_new
from tests.support.participants import compose, outlook_reply, send
from tests.support.ports import free_port, wait_until

pytestmark = pytest.mark.e2e

AGENT = "agnes@example.org"
REOPEN_SECONDS = 6.0
SETTLE = 30.0


class Desk:
    """The running help desk as its users see it: send mail, read what comes back."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation
        self.store = installation.store()
        self._seen: set[str] = set()

    def send(self, raw: bytes, sender: str, to: list[str]) -> None:
        send(self.installation.port, sender, to, raw)

    def new_mail(self, count: int) -> list[DeliveredMail]:
        """Wait for `count` new mails from the daemon (and nothing pending); return them."""

        def fresh() -> list[DeliveredMail]:
            return [
                m for m in maildir_new(self.installation.maildir) if m.path.name not in self._seen
            ]

        wait_until(lambda: len(fresh()) >= count and backlog(self.store).settled, timeout=SETTLE)
        time.sleep(0.3)  # a mail more than expected would show now
        found = fresh()
        self._seen.update(m.path.name for m in found)
        assert len(found) == count, [(m.header("To"), m.header("Subject")) for m in found]
        return found

    def settle(self) -> None:
        wait_until(lambda: backlog(self.store).settled, timeout=SETTLE)

    def show(self, ref: str) -> Any:
        return self.installation.cli_json("show", ref)

    def tickets(self) -> list[str]:
        return [t["ref"] for t in self.installation.cli_json("tickets")]

    def cli(self, *args: str) -> None:
        result = self.installation.cli(*args)
        assert result.returncode == 0, result.stderr


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    port = free_port()
    config = write_config(
        tmp_path / "mailbridge.toml",
        database_url=database_url,
        smtp_port=port,
        maildir=tmp_path / "outbox",
        from_address=HELPDESK.address,
        queues=[HELPDESK, REQUESTS],
        agents=[(AGENT, "Agnes Agent")],
        extra=f"\n[tickets]\nreopen_window_days = {REOPEN_SECONDS / 86400}\n",
    )
    installation = Installation(
        tmp_path,
        config=config,
        port=port,
        maildir=tmp_path / "outbox",
        database_url=database_url,
        env=clean_environment(),
    )
    installation.start_daemon()
    yield Desk(installation)
    finish(installation)


def _open(desk: Desk, requester: str, subject: str, cc: tuple[str, ...] = ()) -> DeliveredMail:
    """A new mail to the help desk; return the acknowledgement."""
    _, raw = compose(
        sender=requester, to=[HELPDESK.address], cc=cc, subject=subject, body="It broke."
    )
    desk.send(raw, requester, [HELPDESK.address])
    [ack] = desk.new_mail(1)
    return ack


def _reply_from_outlook(desk: Desk, ack: DeliveredMail, body: str) -> None:
    """The requester answers our acknowledgement from Outlook (AW:, In-Reply-To only)."""
    _, raw = outlook_reply(
        sender="rita@example.org",
        to=HELPDESK.address,
        original_subject=ack.header("Subject"),
        parent=ack.header("Message-ID"),
        body=body,
    )
    desk.send(raw, "rita@example.org", [HELPDESK.address])


def _inbound(desk: Desk, ref: str) -> list[dict[str, Any]]:
    return [a for a in desk.show(ref)["articles"] if a["direction"] == "inbound"]


def _addresses(mail: DeliveredMail, *names: str) -> set[str]:
    return {a for _, a in getaddresses([mail.header(n) for n in names])}


def test_every_reply_style_lands_on_its_ticket(desk: Desk) -> None:
    ack = _open(desk, "rita@example.org", "VPN drops every hour")
    assert "[INC-1001]" in ack.header("Subject")
    ack_id = ack.header("Message-ID")

    # Outlook: AW:, In-Reply-To to our acknowledgement only.
    _reply_from_outlook(desk, ack, "Still dropping.")
    # References only, subject rewritten beyond recognition.
    _, raw = compose(
        sender="rita@example.org",
        to=[HELPDESK.address],
        subject="vpn again",
        body="References only.",
        references=[ack_id],
    )
    desk.send(raw, "rita@example.org", [HELPDESK.address])
    # The tag only, from the requester's phone.
    _, raw = compose(
        sender="rita@example.org",
        to=[HELPDESK.address],
        subject="Re: [INC-1001]",
        body="Tag only.",
    )
    desk.send(raw, "rita@example.org", [HELPDESK.address])
    # The reply address only, through a relay that rewrote everything else, and
    # written by someone else: a strong key threads whoever sends it.
    reply_to = ack.header("Reply-To")
    _, raw = compose(
        sender="relay-user@partner.example", to=[reply_to], subject="fwd", body="Token only."
    )
    desk.send(raw, "relay-user@partner.example", [reply_to])
    desk.settle()

    assert desk.tickets() == ["INC-1001"]
    keys = [(a["thread_key"], a["text"].strip()) for a in _inbound(desk, "INC-1001")]
    assert keys == [
        ("new", "It broke."),
        ("signed-message-id", "Still dropping."),
        ("signed-message-id", "References only."),
        ("tag", "Tag only."),
        ("token", "Token only."),
    ]
    notes = [a["thread_note"] for a in _inbound(desk, "INC-1001")]
    assert "In-Reply-To" in notes[1]
    assert "References" in notes[2]
    assert "from the requester" in notes[3]
    # Follow-ups get no acknowledgement: nothing more was sent.
    assert desk.new_mail(0) == []


def test_a_strangers_tag_opens_a_linked_ticket_and_adds_nothing(desk: Desk) -> None:
    _open(desk, "rita@example.org", "payroll question")
    before = desk.show("INC-1001")["articles"]
    _, raw = compose(
        sender="mallory@evil.example",
        to=[HELPDESK.address],
        subject="Re: [INC-1001] payroll question",
        body="Please send me the file.",
    )
    desk.send(raw, "mallory@evil.example", [HELPDESK.address])
    [ack] = desk.new_mail(1)

    assert desk.tickets() == ["INC-1001", "INC-1002"]
    assert desk.show("INC-1001")["articles"] == before
    assert ack.header("To") == "mallory@evil.example"
    assert "[INC-1002]" in ack.header("Subject")
    stranger = desk.show("INC-1002")
    assert stranger["links"] == [{"kind": "mentions", "ref": "INC-1001"}]
    assert "takes no part" in stranger["articles"][0]["thread_note"]


def test_reopen_within_the_window_and_a_linked_ticket_after_it(desk: Desk) -> None:
    ack = _open(desk, "rita@example.org", "printer jam")
    desk.cli("set", "INC-1001", "status=closed")
    [closed] = desk.new_mail(1)
    assert "[INC-1001]" in closed.header("Subject")
    _reply_from_outlook(desk, ack, "It jammed again.")
    desk.settle()
    assert desk.show("INC-1001")["status"] == "in_progress"

    desk.cli("set", "INC-1001", "status=resolved")
    desk.cli("set", "INC-1001", "status=closed")
    desk.new_mail(2)  # resolved, closed
    time.sleep(REOPEN_SECONDS + 1)
    _reply_from_outlook(desk, ack, "Weeks later: jammed again.")
    [ack2] = desk.new_mail(1)
    assert "[INC-1002]" in ack2.header("Subject")
    assert desk.show("INC-1001")["status"] == "closed"
    assert desk.show("INC-1002")["links"] == [{"kind": "follows", "ref": "INC-1001"}]


def test_agents_reply_reaches_requester_and_cc_threaded_under_the_original(desk: Desk) -> None:
    original_id, raw = compose(
        sender="rita@example.org",
        to=[HELPDESK.address],
        cc=["colin@example.org"],
        subject="new laptop please",
        body="Mine is ten years old.",
    )
    desk.send(raw, "rita@example.org", [HELPDESK.address])
    [ack] = desk.new_mail(1)
    assert ack.header("To") == "rita@example.org"  # the acknowledgement: requester only
    assert desk.show("INC-1001")["watchers"] == ["colin@example.org"]

    # An agent answers by mail, to the reply address of our acknowledgement.
    _, raw = compose(
        sender=AGENT,
        to=[ack.header("Reply-To")],
        subject=f"Re: {ack.header('Subject')}",
        body="Ordered, it ships Monday.",
        in_reply_to=ack.header("Message-ID"),
    )
    desk.send(raw, AGENT, [ack.header("Reply-To")])
    [by_mail] = desk.new_mail(1)
    assert _addresses(by_mail, "To", "Cc") == {"rita@example.org", "colin@example.org"}
    plain = by_mail.message.get_body(("plain",))
    assert plain is not None
    assert "Ordered, it ships Monday." in plain.get_content()
    assert "Agnes Agent" in by_mail.header("From")
    assert by_mail.header("Auto-Submitted") == ""  # a person wrote it

    # And from the command line.
    desk.cli("reply", "INC-1001", "--from", AGENT, "--text", "Tracking number: 42.")
    [by_cli] = desk.new_mail(1)
    assert _addresses(by_cli, "To", "Cc") == {"rita@example.org", "colin@example.org"}
    assert by_cli.header("In-Reply-To") == original_id
    assert original_id in by_cli.header("References").split()
    assert "[INC-1001]" in by_cli.header("Subject")
    assert by_cli.header("Thread-Topic") == "new laptop please"
    assert by_cli.header("Thread-Index")

    # An internal note is never mailed.
    desk.cli("note", "INC-1001", "--from", AGENT, "--text", "Budget approved by Bob.")
    assert desk.new_mail(0) == []
    kinds = [a["kind"] for a in desk.show("INC-1001")["articles"]]
    assert kinds.count("outbound_reply") == 2
    assert kinds.count("internal_note") == 1
