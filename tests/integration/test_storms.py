"""No mail storms (RFC 3834), over a scripted hour of simulated time.

Scripted autoresponders answer everything we send them, minute by minute, the
way real ones do: out-of-office replies on both sides of a conversation (the
requester and a Cc'd colleague), a second help desk that acknowledges every
mail (without RFC 3834 headers, with its own tag, from its own or another
address), and a broken one that answers every mail with a brand-new mail.
Each must get at most one automatic mail from us per conversation, and no
address more than `automatic_per_hour` in any hour.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

from mailbridge.engine.actions import reply
from mailbridge.settings import AgentSettings, Settings
from mailbridge.store import Store
from tests.support.desk import LocalDesk
from tests.support.participants import compose, out_of_office

HELPDESK = "helpdesk@example.org"
AGENT = "agnes@example.org"
MINUTES = 60
# Help desks that acknowledge every mail: the address we write to, the one they answer from.
ACKNOWLEDGERS = {
    "desk@partner.example": "desk@partner.example",
    "ack@partner.example": "ack2@partner.example",
    "ack2@partner.example": "ack2@partner.example",
}


def _automatic(mail: EmailMessage) -> bool:
    return mail.get("Auto-Submitted", "no") != "no"


def _addressees(mail: EmailMessage) -> list[str]:
    return [a.addr_spec for name in ("To", "Cc") for a in getattr(mail.get(name), "addresses", ())]


class Script:
    """The autoresponders: each answers what we sent it, as its software does."""

    def __init__(self, desk: LocalDesk) -> None:
        self.desk = desk
        self.automatic: Counter[str] = Counter()  # automatic mails we sent, per address
        self.per_conversation: Counter[tuple[str, str]] = Counter()
        self.echo_count = 0

    def write(self, sender: str, raw: bytes, to: str = HELPDESK) -> None:
        self.desk.receive(raw, sender=sender, to=[to])

    def acknowledge(self, sender: str, subject: str) -> None:
        _, raw = compose(
            sender=sender,
            to=[HELPDESK],
            subject=f"[OD#{len(self.automatic)}] Re: {subject}",
            body="Your request has been received.",
        )
        self.write(sender, raw)

    def answer(self, mail: EmailMessage) -> None:
        subject = str(mail["Subject"])
        parent = str(mail["Message-ID"])
        reply_to = str(mail["Reply-To"])
        for address in _addressees(mail):
            if _automatic(mail):
                self.automatic[address] += 1
                tag = subject.split("]")[0].lstrip("[").split()[-1]
                self.per_conversation[(address, tag)] += 1
            if address in ("rita@example.org", "colin@example.org"):
                _, raw = out_of_office(sender=address, to=reply_to, subject=subject, parent=parent)
                self.write(address, raw, reply_to)
            elif address in ACKNOWLEDGERS:
                # Acknowledges everything: no Auto-Submitted, its own tag, no
                # references; one of them from another address than we wrote to.
                self.acknowledge(ACKNOWLEDGERS[address], subject)
            elif address == "echo@broken.example":
                # Broken: every mail it gets, it answers with a new one, no trace of ours.
                self.echo_count += 1
                _, raw = compose(
                    sender=address,
                    to=[HELPDESK],
                    subject=f"ticket {self.echo_count} received",
                    body="Thank you for your mail.",
                )
                self.write(address, raw)


def test_autoresponders_get_one_automatic_mail_per_conversation_and_hour(
    settings: Settings, store: Store
) -> None:
    settings = replace(settings, agents=(AgentSettings(address=AGENT, name="Agnes"),))
    desk = LocalDesk(settings, store)
    script = Script(desk)
    limit = settings.outbound.automatic_per_hour
    start = desk.clock.now()

    _, raw = compose(
        sender="rita@example.org",
        to=[HELPDESK],
        cc=["colin@example.org"],
        subject="printer jam",
        body="It jammed.",
    )
    script.write("rita@example.org", raw)
    for address in ("desk@partner.example", "ack@partner.example", "echo@broken.example"):
        _, raw = compose(sender=address, to=[HELPDESK], subject="hello", body="A question.")
        script.write(address, raw)

    hour_counts: Counter[str] = Counter()
    for minute in range(MINUTES):
        desk.take()
        if minute % 10 == 5:  # the agent keeps answering the requester, as agents do
            desk.act(reply, "INC-1001", AGENT, f"Update {minute}.")
        for mail in desk.sent():
            if _automatic(mail):
                hour_counts.update(_addressees(mail))
            script.answer(mail)
        desk.clock.advance(minutes=1)
    assert desk.clock.now() - start == timedelta(minutes=MINUTES)

    # The out-of-office pair and the acknowledging desks: one automatic mail each.
    for address in ("rita@example.org", "desk@partner.example", "ack@partner.example"):
        assert script.automatic[address] == 1, (address, script.automatic)
    assert script.automatic["colin@example.org"] == 0
    assert script.automatic["ack2@partner.example"] <= 1
    # ...whose answers were kept on the tickets they name, not opened as new ones.
    assert max(script.per_conversation.values()) == 1, script.per_conversation
    # The broken one opens a ticket per mail (it gives nothing to thread on), but the
    # rate limit holds it to `limit` automatic mails in the hour.
    assert script.automatic["echo@broken.example"] == limit
    assert all(count <= limit for count in hour_counts.values())
