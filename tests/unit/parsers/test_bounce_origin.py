"""Which of our mails a bounce returns: `ParsedMail.bounced_message_ids`.

Hand-built reports for each source (DSN with the original attached, DSN with its
header only, an Exchange NDR naming it in In-Reply-To only, a qmail report quoting
it), then the real-world corpus read generically (every bounce carrying an attached
original or header block must give that original's Message-ID), then hypothesis.
"""

from __future__ import annotations

import email
from email import policy
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import HeaderParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from parsers.bounce_origin import MAX_IDS, bounced_message_ids
from tests.support.corpus import corpus_mails, require_corpus
from tests.support.corpus_score import NOT_MAIL, name_of

BOUNCE = parsers.Classification.BOUNCE
OURS = "<ticket-42.a1b2c3@desk.example.org>"
OWN = "<bounce-77@mx.example.net>"  # the bounce's own Message-ID
NOTICE = (
    "This is the mail system at host mx.example.net.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients.\n\n"
    "<bob@example.net>: host mx.example.net said: 550 5.1.1 User unknown\n"
)


def _original(message_id: str = OURS) -> Message:
    """The mail the help desk sent, as the MTA returns it."""
    original = MIMEText("Your ticket INC-1042 was updated.\n")
    original["From"] = "IT Help <help@desk.example.org>"
    original["To"] = "bob@example.net"
    original["Subject"] = "[INC-1042] Printer on floor 3"
    original["Message-ID"] = message_id
    return original


def _delivery_status() -> Message:
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_recipient["Final-Recipient"] = "rfc822; bob@example.net"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    status = Message()
    status.set_type("message/delivery-status")
    status.set_payload([per_message, per_recipient])
    return status


def _report(*returned: Message, message_id: str = OWN) -> MIMEMultipart:
    """An RFC 3464 report (multipart/report) carrying `returned` after its status."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    report["To"] = "help@desk.example.org"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = message_id
    report.attach(MIMEText(NOTICE))
    report.attach(_delivery_status())
    for part in returned:
        report.attach(part)
    return report


def _parsed(message: Message) -> parsers.ParsedMail:
    parsed = parsers.parse(message.as_bytes())
    assert parsed.classification is BOUNCE, parsed.classification_reason
    return parsed


def _plain_bounce(
    body: str,
    *headers: str,
    sender: str = "MAILER-DAEMON@mx.example.net",
    subject: str = "failure notice",
) -> bytes:
    head = [
        f"From: {sender}",
        "To: help@desk.example.org",
        f"Subject: {subject}",
        f"Message-ID: {OWN}",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


QMAIL_HEAD = (
    "Hi. This is the qmail-send program at mx.example.net.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<bob@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
    "--- Below this line is a copy of the message.\n\n"
)


# --- each source ---------------------------------------------------------------------


def test_dsn_with_the_original_attached() -> None:
    parsed = _parsed(_report(MIMEMessage(_original())))
    assert parsed.bounced_message_ids == (OURS,)


def test_dsn_with_the_original_header_only() -> None:
    header = "".join(f"{k}: {v}\n" for k, v in _original().items())
    parsed = _parsed(_report(MIMEText(header, "rfc822-headers")))
    assert parsed.bounced_message_ids == (OURS,)


def test_header_block_folded_and_base64_encoded() -> None:
    header = f"Return-Path: <help@desk.example.org>\nMessage-ID:\n {OURS}\nSubject: x\n"
    part = MIMEText(header, "rfc822-headers", "utf-8")  # utf-8: the stdlib base64-encodes it
    assert part["Content-Transfer-Encoding"] == "base64"
    assert _parsed(_report(part)).bounced_message_ids == (OURS,)


def test_header_block_after_a_sentence() -> None:
    header = f"The original message's header:\n\nMessage-Id: {OURS}\nSubject: x\n"
    assert _parsed(_report(MIMEText(header, "rfc822-headers"))).bounced_message_ids == (OURS,)


def test_exchange_ndr_naming_the_original_only_in_in_reply_to() -> None:
    raw = _plain_bounce(
        "Delivery has failed to these recipients or groups:\n\n"
        "bob@example.net\nThe e-mail address you entered couldn't be found.\n",
        f"In-Reply-To: {OURS}",
        "References: <thread-root@elsewhere.example>",
        "Thread-Topic: [INC-1042] Printer on floor 3",
        sender="Microsoft Outlook <postmaster@corp.example.net>",
        subject="Undeliverable: [INC-1042] Printer on floor 3",
    )
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_message_ids == (OURS,)


def test_in_reply_to_only_when_nothing_else_names_the_original() -> None:
    report = _report(MIMEMessage(_original()))
    report["In-Reply-To"] = "<something-else@mx.example.net>"
    assert _parsed(report).bounced_message_ids == (OURS,)


def test_references_are_never_the_original() -> None:
    raw = _plain_bounce(QMAIL_HEAD + "(the message was empty)\n", f"References: {OURS}")
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_message_ids == ()


@pytest.mark.parametrize(
    "line",
    [
        f"Message-ID: {OURS}",
        f"Message-Id: {OURS}",
        f"message-id:{OURS}",
        f"    Message-ID: {OURS}",
        f"> Message-ID: {OURS}",
        f"Message-ID:\n\t{OURS}",
    ],
)
def test_qmail_report_quoting_the_original_header(line: str) -> None:
    quoted = (
        "Return-Path: <help@desk.example.org>\n"
        "Received: (qmail 1234 invoked by uid 0); 6 May 2024 09:00:00 -0000\n"
        f"{line}\nSubject: [INC-1042] Printer on floor 3\n\n"
        "Your ticket was updated.\n\n"
        "---------- Forwarded message ----------\n"
        "Message-ID: <forwarded-inside-ours@elsewhere.example>\n"
    )
    parsed = parsers.parse(_plain_bounce(QMAIL_HEAD + quoted))
    assert parsed.classification is BOUNCE
    assert parsed.bounced_message_ids == (OURS,)


def test_a_quoted_header_past_the_scanned_text_is_not_read() -> None:
    # The report text is read up to 128 KiB, so a regex never runs over megabytes.
    filler = "The following recipients failed; details follow.\n" * 4000  # 200 KB
    parsed = parsers.parse(_plain_bounce(QMAIL_HEAD + filler + f"Message-ID: {OURS}\n"))
    assert parsed.classification is BOUNCE
    assert parsed.bounced_message_ids == ()


# --- what is never taken ---------------------------------------------------------------


def test_the_bounce_own_message_id_is_never_returned() -> None:
    # Quoted in its own text, named in its In-Reply-To, carried by the copy it attaches.
    raw = _plain_bounce(QMAIL_HEAD + f"Message-ID: {OWN}\nSubject: x\n", f"In-Reply-To: {OWN}")
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_message_ids == ()
    assert _parsed(_report(MIMEMessage(_original(OWN)))).bounced_message_ids == ()
    both = MIMEText("hi")
    both["Message-ID"] = OWN
    both["Message-ID"] = OURS
    assert _parsed(_report(MIMEMessage(both))).bounced_message_ids == (OURS,)


def test_an_original_own_attachments_are_not_looked_at() -> None:
    forwarded = MIMEMultipart()
    for name, value in _original().items():
        if name.lower() != "content-type":
            forwarded[name] = value
    forwarded.attach(MIMEText("See below."))
    forwarded.attach(MIMEMessage(_original("<customer-mail@elsewhere.example>")))
    assert _parsed(_report(MIMEMessage(forwarded))).bounced_message_ids == (OURS,)


def test_a_forwarded_bounce_gives_the_original_it_returns() -> None:
    # A list manager forwarding a bounce: the attached mail is the report, not ours.
    inner = _report(MIMEMessage(_original()), message_id="<inner-report@mx.example.net>")
    outer = MIMEMultipart()
    outer["From"] = "MAILER-DAEMON@mx.example.net"
    outer["Subject"] = "Undelivered Mail Returned to Sender"
    outer["Message-ID"] = OWN
    outer.attach(MIMEText(NOTICE))
    outer.attach(MIMEMessage(inner))
    assert _parsed(outer).bounced_message_ids == (OURS,)


def test_a_blank_line_before_the_returned_header() -> None:
    # Some MTAs write one (flufl.bounce simple_30, sisimai x3): the stdlib then reads
    # the returned header as the body of an attached mail without a header.
    raw = (
        f"From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\nMessage-ID: {OWN}\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; boundary=b\n\n"
        f"--b\nContent-Type: text/plain\n\n{NOTICE}\n"
        "--b\nContent-Type: message/rfc822\n\n\n"
        f"Return-Path: <help@desk.example.org>\nMessage-ID: {OURS}\nSubject: x\n\nhi\n--b--\n"
    ).encode()
    returned = email.message_from_bytes(raw).get_payload(1)
    assert isinstance(returned, Message)
    attached = returned.get_payload(0)
    assert isinstance(attached, Message)
    assert attached.keys() == []  # the stdlib's reading, which the parser works around
    parsed = parsers.parse(raw)
    assert parsed.classification is BOUNCE
    assert parsed.bounced_message_ids == (OURS,)


def test_at_most_a_few_ids_once_each() -> None:
    originals = [MIMEMessage(_original(f"<n{i}@desk.example.org>")) for i in range(8)]
    originals.insert(1, MIMEMessage(_original("<n0@desk.example.org>")))
    ids = _parsed(_report(*originals)).bounced_message_ids
    assert ids == tuple(f"<n{i}@desk.example.org>" for i in range(MAX_IDS))


def test_a_mail_that_is_no_bounce_has_none() -> None:
    raw = (
        "From: Jane Doe <jane@example.org>\r\nTo: help@desk.example.org\r\n"
        f"Subject: Re: [INC-1042] Printer\r\nMessage-ID: <jane-1@example.org>\r\n"
        f"In-Reply-To: {OURS}\r\n\r\nIt jams again. Your mail had\r\nMessage-ID: {OURS}\r\n"
    ).encode()
    parsed = parsers.parse(raw)
    assert parsed.classification is parsers.Classification.HUMAN
    assert parsed.bounced_message_ids == ()
    forward = MIMEMultipart()
    forward["From"] = "jane@example.org"
    forward["Subject"] = "Fwd: printer"
    forward.attach(MIMEText("See the mail below."))
    forward.attach(MIMEMessage(_original()))
    assert parsers.parse(forward.as_bytes()).bounced_message_ids == ()


# --- the corpus --------------------------------------------------------------------------


def _own(message: Message) -> set[str]:
    return {"".join(str(v).split()) for v in message.get_all("Message-ID") or []}


def _attached_ids(message: Message) -> list[str]:
    """Message-IDs of attached originals and header blocks, in tree order, read with
    the stdlib alone (not with parsers.bounce_origin). An attached report (a
    forwarded bounce) is no original: the one it carries comes later in the walk."""
    found = []
    for part in message.walk():
        content_type = part.get_content_type()
        header: Message | None = None
        if content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            assert isinstance(inner, Message)
            if inner.get_content_type() == "multipart/report":
                continue
            header = inner
        elif content_type == "text/rfc822-headers":
            text = _decoded(part).decode("ascii", "replace")
            header = HeaderParser(policy=policy.compat32).parsestr(text.lstrip("\r\n"))
        if header is not None:
            found += ["".join(str(v).split()) for v in header.get_all("Message-ID") or []]
    return [mid for mid in found if mid.startswith("<") and "@" in mid and mid.endswith(">")]


def _decoded(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _corpus_bounces() -> list[tuple[str, bytes, parsers.ParsedMail]]:
    require_corpus()
    bounces = []
    for path in corpus_mails():
        if name_of(path) in NOT_MAIL:
            continue
        raw = path.read_bytes()
        parsed = parsers.parse(raw)
        if parsed.classification is BOUNCE:
            bounces.append((name_of(path), raw, parsed))
        else:
            assert parsed.bounced_message_ids == (), name_of(path)
    return bounces


def test_corpus_bounces_give_their_attached_original() -> None:
    bounces = _corpus_bounces()
    checked, missed = 0, []
    for name, raw, parsed in bounces:
        message = email.message_from_bytes(raw, policy=policy.compat32)
        own = _own(message)
        assert not own & set(parsed.bounced_message_ids), name
        # Nothing invented: each ID is in the mail, as written or transfer-decoded.
        readable = raw + b"".join(_decoded(p) for p in message.walk() if not p.is_multipart())
        assert all(mid.encode() in readable for mid in parsed.bounced_message_ids), name
        candidates = [mid for mid in _attached_ids(message) if mid not in own]
        if candidates:
            checked += 1
            if candidates[0] not in parsed.bounced_message_ids:
                missed.append(f"{name}: {candidates[0]} not in {parsed.bounced_message_ids}")
    assert checked > 150
    assert not missed, "\n".join(missed)
    # 293 of the 347 bounces name their original (2026-11-25); the others carry no
    # Message-ID of it, or only one equal to the bounce's own (docs/parsing.md).
    assert sum(1 for _, _, parsed in bounces if parsed.bounced_message_ids) >= 290


# --- any input ---------------------------------------------------------------------------

SKELETON = _report(MIMEMessage(_original())).as_bytes()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000) | st.builds(bytes.__add__, st.just(SKELETON[:600]), st.binary()))
def test_any_bytes_give_a_tuple_of_bracketed_ids(raw: bytes) -> None:
    for chosen in (policy.compat32, policy.default):
        ids = bounced_message_ids(email.message_from_bytes(raw, policy=chosen))
        assert isinstance(ids, tuple)
        assert len(ids) <= MAX_IDS
        assert all(m.startswith("<") and m.endswith(">") and "@" in m for m in ids)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_damaged_reports_never_raise(data: st.DataObject) -> None:
    raw = bytearray(SKELETON)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position:position] = data.draw(
            st.sampled_from([b"\n", b"--", b"\n\n", b"Message-ID: <", b"@", b">", b"\xff"])
        )
    try:
        parsed = parsers.parse(bytes(raw))
    except parsers.Unparseable:
        return
    assert all(m.startswith("<") and m.endswith(">") for m in parsed.bounced_message_ids)
