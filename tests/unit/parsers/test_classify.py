"""Classification and bounced recipients, through `parsers.parse`.

Three layers: every corpus mail against its expectations, small hand-written
mails for each rule and each language (with the human mails that must stay
human beside them), and hypothesis for header values nobody would write; that
last one calls classify and bounced_recipients directly, with compat32 and
policy-based messages alike, since either may reach them.
"""

from __future__ import annotations

import email
import json
from email import policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from parsers.bounces import bounced_recipients
from parsers.classify import classify
from tests.support.corpus import corpus_mails, require_corpus
from tests.support.corpus_score import DISPUTED

AUTO_REPLY = parsers.Classification.AUTO_REPLY
BOUNCE = parsers.Classification.BOUNCE
BULK = parsers.Classification.BULK
HUMAN = parsers.Classification.HUMAN

MAILS = corpus_mails()
NOT_MAIL = "mail-parser/mail_outlook_1.eml"  # an Outlook .msg, not RFC 5322


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _expected(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.with_suffix(".json").read_text())
    return data


def _corpus(field: str) -> list[object]:
    """The corpus mails whose json asserts `field`, xfail where we disagree with it."""
    selected: list[object] = []
    for path in MAILS:
        if _name(path) == NOT_MAIL or field not in _expected(path):
            continue
        reason = DISPUTED.get((_name(path), field))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        selected.append(pytest.param(path, marks=marks, id=_name(path)))
    return selected


# --- the corpus --------------------------------------------------------------------


def test_the_corpus_has_classified_mails() -> None:
    require_corpus()
    assert len(_corpus("classification")) > 450
    assert len(_corpus("bounced_recipients")) > 200


@pytest.mark.parametrize("path", _corpus("classification"))
def test_classification_matches_the_corpus(path: Path) -> None:
    parsed = parsers.parse(path.read_bytes())
    assert parsed.classification.value == _expected(path)["classification"], (
        parsed.classification_reason
    )


@pytest.mark.parametrize("path", _corpus("bounced_recipients"))
def test_bounced_recipients_match_the_corpus(path: Path) -> None:
    parsed = parsers.parse(path.read_bytes())
    expected = _expected(path)["bounced_recipients"]
    assert isinstance(expected, list)
    assert {a.lower() for a in parsed.bounced_recipients} == {a.lower() for a in expected}
    assert len(parsed.bounced_recipients) == len({a.lower() for a in parsed.bounced_recipients})


@pytest.mark.parametrize("path", _corpus("not_bounce"))
def test_sisimai_non_bounces_are_not_bounces(path: Path) -> None:
    assert parsers.parse(path.read_bytes()).classification is not BOUNCE


# --- hand-written mails ------------------------------------------------------------


def _mail(
    *headers: str,
    subject: str = "Printer on floor 3 is jammed",
    sender: str = "Jane Doe <jane.doe@example.org>",
    body: str = "Hello,\n\nthe printer jams on every page. Could you have a look?\n\nJane\n",
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: IT Help <help@example.com>",
        f"Subject: {subject}",
        "Date: Mon, 06 May 2024 09:00:00 +0200",
        "Message-ID: <test@example.org>",
        *headers,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _classified(raw: bytes) -> parsers.Classification:
    return parsers.parse(raw).classification


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-replied", AUTO_REPLY),
        ("Auto-Submitted: auto-generated", AUTO_REPLY),
        ("Auto-Submitted: auto-notified; owner-email=x@example.org", AUTO_REPLY),
        ("Auto-Submitted: no", HUMAN),
        ("X-Autoreply: yes", AUTO_REPLY),
        ("X-Autorespond: Vacation", AUTO_REPLY),
        ("X-Auto-Response-Suppress: All", AUTO_REPLY),
        ("X-Auto-Response-Suppress: OOF, AutoReply, DR", AUTO_REPLY),
        ("X-Auto-Response-Suppress: DR, RN", HUMAN),
        ("Precedence: auto_reply", AUTO_REPLY),
        ("Precedence: bulk", BULK),
        ("Precedence: list", BULK),
        ("Precedence: junk", BULK),
        ("Precedence: first-class", HUMAN),
        ("List-Id: Staff announcements <staff.example.org>", BULK),
        ("List-Unsubscribe: <mailto:leave@example.org>", BULK),
        ("List-Post: <mailto:staff@example.org>", BULK),
        ("Mailing-List: contact staff-help@example.org; run by ezmlm", BULK),
        ("X-Failed-Recipients: bob@example.net", BOUNCE),
        ("X-Mailer: Thunderbird", HUMAN),
    ],
)
def test_each_header_rule(header: str, expected: parsers.Classification) -> None:
    assert _classified(_mail(header)) is expected


def test_auto_reply_beats_precedence_bulk() -> None:
    # Gmail's vacation replies carry both.
    raw = _mail("Auto-Submitted: auto-replied", "Precedence: bulk", subject="Away until Monday")
    assert _classified(raw) is AUTO_REPLY


def test_exim_bounce_with_auto_submitted_is_a_bounce() -> None:
    raw = _mail(
        "Auto-Submitted: auto-replied",
        "X-Failed-Recipients: bob@example.net",
        sender="Mail Delivery System <Mailer-Daemon@mx.example.org>",
        subject="Mail delivery failed: returning message to sender",
        body="This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  bob@example.net\n"
        "    SMTP error from remote mail server after RCPT TO:<bob@example.net>:\n"
        "    550 5.1.1 User unknown\n",
    )
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_recipients == ("bob@example.net",)


def test_bounce_of_list_mail_keeps_precedence_bulk_but_is_a_bounce() -> None:
    raw = _mail(
        "Precedence: bulk",
        "List-Id: <staff.example.org>",
        sender="MAILER-DAEMON@mx.example.org",
        subject="failure notice",
        body="Hi. This is the qmail-send program at mx.example.org.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<carol@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\nReturn-Path: <staff@example.org>\n"
        "To: dave@example.net\n",
    )
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_recipients == ("carol@example.net",)


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Printer on floor 3 is jammed",
        "Auto reply: Printer",
        "Out of Office: Printer",
        "Out of Office AutoReply: Printer",
        "Abwesenheitsnotiz: Drucker",
        "Automatische Antwort: Drucker",
        "Absence du bureau : Imprimante",
        "Réponse automatique : Imprimante",
        "Respuesta automática: Impresora",
        "Risposta automatica: Stampante",
        "Afwezig: Printer",
        "Automatisch antwoord: Printer",
        "Resposta automática: Impressora",
        "Odpowiedź automatyczna: Drukarka",
        "[Automatyczna odpowiedź] Drukarka",
        "Автоответ: Принтер",
        "Автоматический ответ: Принтер",
        "自动回复: 打印机",
        "自动回复\uff1a打印机",  # a fullwidth colon
        "自動応答: プリンター",
        "Re: Printer (Automatic Response)",
        "Jane Doe/ACME is out of the office.",
    ],
)
def test_each_auto_reply_subject(subject: str) -> None:
    assert _classified(_mail(subject=subject)) is AUTO_REPLY


@pytest.mark.parametrize(
    "body",
    [
        "This is an automatic reply. I am away until Monday.\n",
        "Out of Office\n\nI am away until Monday.\n",
        "Dies ist eine automatische Antwort. Ich bin bis Montag nicht im Büro.\n",
        "Ceci est une réponse automatique. Je suis absent jusqu'à lundi.\n",
        "Esta es una respuesta automática. Estoy fuera hasta el lunes.\n",
        "Questa è una risposta automatica. Sono fuori ufficio fino a lunedì.\n",
        "Dit is een automatisch antwoord. Ik ben afwezig tot maandag.\n",
        "Esta é uma resposta automática. Estou ausente até segunda.\n",
        "To jest automatyczna odpowiedź. Jestem poza biurem do poniedziałku.\n",
        "Это автоматический ответ. Я в отпуске до понедельника.\n",
        "这是一封自动回复邮件。我周一回来。\n",
        "このメールは自動返信です。月曜日に戻ります。\n",
    ],
)
def test_each_auto_reply_body(body: str) -> None:
    assert _classified(_mail(subject="Re: Printer", body=body)) is AUTO_REPLY


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Out of office not working", "Hi, my out of office reply does not switch on.\n"),
        ("How do I set an automatic reply?", "I will be out of office next week.\n"),
        ("Re: Printer", "I was out of the office yesterday, sorry. The printer still jams.\n"),
        ("Outlook", "I get an automatic reply from Bob every time I write to him.\n"),
        ("Abwesenheit einrichten", "Wie richte ich die Abwesenheitsnotiz in Outlook ein?\n"),
        ("Réponse automatique", "Comment activer la réponse automatique dans Outlook ?\n"),
        ("Out of office", "Please set my out of office, I cannot reach Outlook.\n"),
        ("Mail delivery failed to a customer", "I get 550 5.1.1 User unknown, the mail"
         " could not be delivered to bob@example.net. Can you check?\n"),
        ("Undeliverable mail", "Why is my mail to the client undeliverable?\n"),
        ("Relay", "Our smtp relay says: 550 5.7.1 relaying denied, mail could not be delivered.\n"),
        ("Newsletter", "Please unsubscribe me from the staff newsletter. To unsubscribe I"
         " clicked https://news.example.org/unsubscribe?id=1 but it does not work.\n"),
    ],
)  # fmt: skip
def test_a_person_who_mentions_a_marker_stays_human(subject: str, body: str) -> None:
    assert _classified(_mail(subject=subject, body=body)) is HUMAN
    # A domain that sounds like a mail system does not make its people one.
    sender = "Jane Doe <jane@smtp-mailserver.example>"
    assert _classified(_mail(subject=subject, body=body, sender=sender)) is HUMAN


_BOUNCE_REPORT = (
    "This message was created automatically by mail delivery software.\n\n"
    "A message that you sent could not be delivered to one or more of its recipients.\n"
    "The following address(es) failed:\n\n  bob@example.net\n    550 5.1.1 User unknown\n"
)


def test_a_forwarded_bounce_stays_human() -> None:
    body = (
        "Hi, why did this bounce?\n\n---------- Forwarded message ---------\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n"
        "Subject: Mail delivery failed\n\n" + _BOUNCE_REPORT
    )
    # A mail administrator's address is a system sender: only the forward tells.
    raw = _mail(
        sender="Mail Admin <postmaster@example.org>",
        subject="Fwd: Mail delivery failed: returning message to sender",
        body=body,
    )
    assert _classified(raw) is HUMAN


def test_a_bounce_quoted_in_a_reply_stays_human() -> None:
    body = "Why did this happen?\n\nOn Mon, 6 May 2024, Mail Delivery System wrote:\n" + "".join(
        f"> {line}\n" for line in _BOUNCE_REPORT.splitlines()
    )
    raw = _mail(
        sender="Mail Admin <postmaster@example.org>",
        subject="Re: Mail delivery failed: returning message to sender",
        body=body,
    )
    assert _classified(raw) is HUMAN


def test_a_bounce_forwarded_as_an_attachment_stays_human() -> None:
    boundary = "b1"
    raw = (
        "From: Jane Doe <jane.doe@example.org>\r\nTo: help@example.com\r\n"
        "Subject: Fwd: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nSee the attached bounce.\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        + _dsn(sender="MAILER-DAEMON@mx.example.org").decode()
        + f"\r\n--{boundary}--\r\n"
    ).encode()
    assert _classified(raw) is HUMAN


def test_a_postmaster_notice_that_is_no_delivery_report_is_not_a_bounce() -> None:
    raw = _mail(
        "Auto-Submitted: auto-generated",
        sender="postmaster@example.org",
        subject="Your mailbox is almost full",
        body="Your mailbox uses 95% of its quota. Please delete old mail.\n",
    )
    assert _classified(raw) is AUTO_REPLY


def _dsn(
    *blocks: str,
    sender: str = "MAILER-DAEMON@mx.example.org (Mail Delivery System)",
    report_type: str = "; report-type=delivery-status",
) -> bytes:
    blocks = blocks or ("Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n",)
    per_recipient = "\r\n".join(blocks)
    return (
        f"From: {sender}\r\nTo: help@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report{report_type}; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message"
        " could not be delivered.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n" + per_recipient + "\r\n"
        "--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: help@example.com\r\n"
        "To: bob@example.net\r\n\r\n--r--\r\n"
    ).encode("utf-8")


def test_rfc3464_report_names_its_failed_recipients_in_order() -> None:
    raw = _dsn(
        "Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        "Final-Recipient: rfc822; carol@example.net\r\nAction: delayed\r\nStatus: 4.4.1\r\n",
        "Final-Recipient: rfc822; dave@example.net\r\nAction: failed\r\nStatus: 5.2.2\r\n",
        "Final-Recipient: rfc822; BOB@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        "Final-Recipient: rfc822; erin@example.net\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
    )
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_recipients == ("bob@example.net", "dave@example.net")


def test_rfc3464_prefers_original_recipient_the_address_we_sent_to() -> None:
    raw = _dsn(
        "Original-Recipient: rfc822;jane@corp.example\r\n"
        "Final-Recipient: rfc822; jane.doe@mailhost.corp.example\r\nAction: failed\r\n",
        "Original-Recipient: x400; /S=bob/\r\nFinal-Recipient: rfc822; bob@example.net\r\n"
        "Action: failed\r\n",
    )
    assert parsers.parse(raw).bounced_recipients == ("jane@corp.example", "bob@example.net")


def test_rfc3464_action_comments_and_utf8_reports_are_read() -> None:
    raw = _dsn("Final-Recipient: rfc822; bob@example.net\r\nAction: failed (mailbox full)\r\n")
    assert parsers.parse(raw).bounced_recipients == ("bob@example.net",)
    utf8 = _dsn(
        "Original-Recipient: utf-8; jörg@example.net\r\nFinal-Recipient: rfc822; j@example.net\r\n"
        "Action: failed\r\n",
        "Final-Recipient: rfc822; erin@example.net\r\nStatus: 5.1.1\r\n",
    ).replace(b"message/delivery-status", b"message/global-delivery-status")
    assert parsers.parse(utf8).bounced_recipients == ("jörg@example.net", "erin@example.net")


def test_rfc3464_warning_names_the_delayed_recipient() -> None:
    raw = _dsn("Final-Recipient: rfc822; bob@example.net\r\nAction: delayed\r\n")
    assert parsers.parse(raw).bounced_recipients == ("bob@example.net",)


def test_report_without_report_type_is_a_bounce_and_read_receipts_are_auto_replies() -> None:
    assert _classified(_dsn(report_type="")) is BOUNCE
    receipt = _dsn(report_type="; report-type=disposition-notification")
    assert _classified(receipt) is AUTO_REPLY


@pytest.mark.parametrize(
    ("sender", "subject", "report", "recipients"),
    [
        (  # qmail
            "MAILER-DAEMON@mx.example.org", "failure notice",
            "Hi. This is the qmail-send program at mx.example.org.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
            "<bob@example.net>:\nSorry, no mailbox here by that name.\n\n"
            "<carol@example.net>:\nmailbox full\n\n--- Below this line is a copy of the message.\n"
            "\nReturn-Path: <help@example.com>\nTo: bob@example.net, zed@example.net\n",
            ("bob@example.net", "carol@example.net"),
        ),
        (  # Postfix, plain text
            "MAILER-DAEMON@mx.example.org (Mail Delivery System)",
            "Undelivered Mail Returned to Sender",
            "This is the Postfix program at host mx.example.org.\n\nI'm sorry to have to inform"
            " you that the message returned\nbelow could not be delivered to one or more"
            " destinations.\n\nFor further assistance, please contact <postmaster@example.org>\n\n"
            "<bob@example.net>: host mx.example.net said: 550 5.1.1 <bob@example.net>... User"
            " unknown\n",
            ("bob@example.net",),
        ),
        (  # sendmail, with an alias expansion: the address we sent to wins
            "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>",
            "Returned mail: see transcript for details",
            "The original message was received at Mon, 6 May 2024 09:00:00 +0200\n\n"
            "   ----- The following addresses had permanent fatal errors -----\n"
            "bob@mailhost.example.net\n    (expanded from: bob@example.net)\n\n"
            "   ----- Transcript of session follows -----\n550 5.1.1 User unknown\n",
            ("bob@example.net",),
        ),
        (  # Exchange 5.5 / GroupWise
            "System Administrator <postmaster@example.net>", "Undeliverable: Printer",
            "Your message\n\n  To:      staff@example.org\n  Subject: Printer\n\n"
            "did not reach the following recipient(s):\n\n"
            "c=US;a= ;p=ACME;o=Exch;dda:SMTP=BOB@EXAMPLE.NET; on Mon, 6 May 2024\n"
            "    The recipient name is not recognized\n",
            ("BOB@EXAMPLE.NET",),
        ),
        (  # Lotus Domino
            "Postmaster@example.net", "DELIVERY FAILURE: User bob not listed",
            "Your message\n\n  Subject: Printer\n\nwas not delivered to:\n\n"
            "  bob@example.net\n\nbecause:\n\n  User bob (bob@example.net) not listed in Domino"
            " Directory\n",
            ("bob@example.net",),
        ),
        (  # Yahoo
            "MAILER-DAEMON@yahoo.com", "Delivery failure",
            "Message from yahoo.com.\nUnable to deliver message to the following address(es).\n\n"
            "<bob@yahoo.com>:\nThis user doesn't have a yahoo.com account (bob@yahoo.com) [0]\n\n"
            "--- Original message follows.\n\nTo: zed@example.net\n",
            ("bob@yahoo.com",),
        ),
        (  # AOL names the screen name only
            "Mail Delivery Subsystem <MAILER-DAEMON@aol.com>", "Mail Delivery Problem",
            "Your mail to the following recipients could not be delivered because they are not"
            " accepting mail from help@example.com:\n\tbobscreen\n",
            ("bobscreen@aol.com",),
        ),
    ],
)  # fmt: skip
def test_plain_text_bounces(
    sender: str, subject: str, report: str, recipients: tuple[str, ...]
) -> None:
    parsed = parsers.parse(_mail(sender=sender, subject=subject, body=report))
    assert parsed.classification is BOUNCE
    assert parsed.bounced_recipients == recipients


def test_a_newsletter_without_list_headers_is_bulk() -> None:
    body = "This month: new laptops, the VPN upgrade and more.\n" * 40 + (
        "\n--\nYou are receiving this newsletter because you signed up at example.org.\n"
        "To unsubscribe, visit https://news.example.org/unsubscribe?u=42\n"
    )
    raw = _mail(sender="ACME News <newsletter@news.example.org>", subject="ACME monthly", body=body)
    assert _classified(raw) is BULK


def test_a_reply_to_a_newsletter_stays_human() -> None:
    body = "My laptop from the offer does not boot.\n\n> To unsubscribe, visit " + (
        "https://news.example.org/unsubscribe\n> You are receiving this newsletter because\n"
    )
    raw = _mail(sender="Jane <newsletter@example.org>", subject="Re: ACME monthly", body=body)
    assert _classified(raw) is HUMAN


def test_list_group_senders_are_bulk() -> None:
    raw = _mail(sender='"Staff" <staff-talk@yahoogroups.com>', subject="Lunch on Friday")
    assert _classified(raw) is BULK


def test_the_reason_names_the_rule() -> None:
    assert parsers.parse(_mail("Precedence: list")).classification_reason == "Precedence: list"
    assert (
        "Auto-Submitted"
        in parsers.parse(_mail("Auto-Submitted: auto-replied")).classification_reason
    )


# --- arbitrary and hostile input ---------------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "From", "To", "Subject", "Return-Path", "Content-Type", "Auto-Submitted",
        "Precedence", "List-Id", "X-Auto-Response-Suppress", "X-Failed-Recipients",
        "X-Autoreply", "Reply-To", "Sender", "Errors-To",
    ]
)  # fmt: skip
HEADER_VALUES = st.one_of(
    st.text(max_size=120),
    st.sampled_from(
        [
            "multipart/report; report-type=delivery-status; boundary=r",
            "multipart/report; report-type*=utf-8''delivery-status",
            "multipart/report; report-type=",
            "<>",
            "MAILER-DAEMON",
            "postmaster@",
            '"System Administrator"@',
            "=?utf-8?b?w6k=?= <a@b>",
            "=?bogus?q?x?=",
            "auto-replied",
            "All, OOF",
            "bounce+x=y@z",
            "\udcff\udcfe",
        ]
    ),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=10))
    body = draw(st.binary(max_size=300))
    head = "\r\n".join(f"{name}: {value}" for name, value in headers)
    raw = head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body
    chosen = draw(st.sampled_from([policy.compat32, policy.default]))
    return email.message_from_bytes(raw, policy=chosen)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(messages(), st.none() | st.text(max_size=40), st.text(max_size=200), st.text(max_size=400))
def test_classify_never_raises_on_arbitrary_headers(
    message: Message, sender: str | None, subject: str, text: str
) -> None:
    classification, reason = classify(message, sender=sender, subject=subject, text=text)
    assert classification in set(parsers.Classification)
    assert reason
    recipients = bounced_recipients(message)
    assert all("@" in address for address in recipients)
    assert len({address.lower() for address in recipients}) == len(recipients)


def test_pathological_mails_stay_cheap() -> None:
    # Each takes a few milliseconds; quadratic work would take minutes, which shows as
    # a slow test (timings are measured in bench/, never asserted).
    huge_header = email.message_from_bytes(
        b"From: " + b"postmaster-" * 100_000 + b"@example.org\r\nTo: "
        + b"bounce-" * 150_000 + b"\r\nSubject: x\r\n\r\nbody\r\n"
    )  # fmt: skip
    huge_body = "x" * 25_000_000
    many_parts = email.message_from_bytes(
        b'Content-Type: multipart/mixed; boundary="p"\r\nFrom: <>\r\n\r\n'
        + b"--p\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n" * 1000
        + b"--p--\r\n"
    )
    junk = "a" * 1_000_000  # one 1 MB "word": backtracking regexes choke on these
    subject = "Undeliverable: " + junk
    for message, text in ((huge_header, huge_body), (many_parts, junk), (huge_header, junk)):
        classification, reason = classify(message, sender=None, subject=subject, text=text)
        assert classification in set(parsers.Classification)
        assert reason
        bounced_recipients(message)


# --- broken senders and charsets ----------------------------------------------------


def test_an_unparseable_from_is_not_a_null_sender() -> None:
    raw = _mail(sender='"john doe"@example.com', subject="Undeliverable parcel - can you help?")
    parsed = parsers.parse(raw)
    assert parsed.sender is None
    assert parsed.classification is HUMAN


@pytest.mark.parametrize(
    ("sender", "headers"),
    [("<>", ()), ('"Mail Delivery System" <>', ()), ("", ()), ("x", ("Return-Path: <>",))],
)
def test_an_empty_from_or_return_path_is_a_null_sender(sender: str, headers: tuple[str]) -> None:
    raw = _mail(*headers, sender=sender, subject="Undeliverable: Printer on floor 3")
    assert _classified(raw) is BOUNCE


NEWSLETTER_BODY = (
    "Our spring catalogue is out, with twenty new products for your office. " * 20
    + "\n\nUnsubscribe: https://acme.example/unsubscribe?u=1\n"
    + "You are receiving this email because you signed up at acme.example.\n"
)


@pytest.mark.parametrize(
    "sender",
    ["ACME Newsletter <hello@acme.example>", "=?utf-8?q?ACME_Newsletter?= <hello@acme.example>"],
)
def test_an_encoded_display_name_is_read_decoded(sender: str) -> None:
    assert _classified(_mail(sender=sender, body=NEWSLETTER_BODY)) is BULK


@pytest.mark.parametrize("charset", ["undefined", '"a\x00b"', "unicode_escape"])
def test_a_report_part_in_a_codec_that_reads_no_text(charset: str) -> None:
    # The classifier reads this part itself (the body has no text part).
    raw = (
        "From: <>\r\nSubject: Undeliverable: x\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/calendar; charset={charset}\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
    ).encode()
    assert parsers.parse(raw).classification is BOUNCE


def test_a_reason_quoting_a_header_is_one_clean_line() -> None:
    raw = _mail("Auto-Submitted: auto-replied\x00x\r\n y")
    parsed = parsers.parse(raw)
    assert parsed.classification is AUTO_REPLY
    assert parsed.classification_reason == "Auto-Submitted: auto-repliedx y"


def test_a_report_type_reason_is_one_clean_line() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; boundary=b;\r\n report-type="x\x07\x00y"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b--\r\n"
    )
    parsed = parsers.parse(raw)
    assert parsed.classification_reason == "multipart/report; report-type=xy"
