"""Headers we write are never built from unchecked input: addresses are plain
addr-specs, no subject, display name, Message-ID or topic from a mail can add a
header, and what we write parses back (policy.default) to the values we gave."""

from __future__ import annotations

import base64
import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.headers import (
    LOOP_HEADER,
    OutboundMail,
    build_message,
    checked_address,
    clean_display_name,
    clean_subject,
)

BASE = OutboundMail(
    sender="helpdesk@example.org",
    to=("alice@example.org",),
    subject="printer on fire",
    message_id="<1@example.org>",
    date=datetime(2026, 11, 25, tzinfo=UTC),
    text="body",
    loop_marker="example.org",
)
INJECTION = "alice@example.org\r\nBcc: everyone@example.org"
THREAD_INDEX = base64.b64encode(bytes(range(1, 28))).decode()

_atom = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-_", min_size=1, max_size=12)
addresses = st.builds(
    lambda local, host, tld: f"{local}@{host}.{tld}",
    _atom,
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20),
    st.sampled_from(["org", "de", "example"]),
)


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize(
    "address",
    ["alice@example.org", "a.b+tag@mail.example.co.uk", "helpdesk@localhost", "o'neil@x.org"],
)
def test_plain_addresses_pass(address: str) -> None:
    assert checked_address(address) == address


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.org\r\nBcc: everyone@example.org",
        "Alice <alice@example.org>",
        '"alice smith"@example.org',
        "alice@example.org, bob@example.org",
        "a..b@example.org",
        ".alice@example.org",
        "alice@-example.org",
        "alice@[192.0.2.1]",
        "alice",
        "jörg@example.org",
        "x" * 250 + "@example.org",
    ],
)
def test_anything_else_is_refused(address: str) -> None:
    assert checked_address(address) is None


@pytest.mark.parametrize(
    "mail",
    [
        replace(BASE, sender=INJECTION),
        replace(BASE, to=("bob@example.org", INJECTION)),
        replace(BASE, cc=(INJECTION,)),
        replace(BASE, reply_to=INJECTION),
    ],
    ids=["From", "To", "Cc", "Reply-To"],
)
def test_an_unchecked_address_is_never_written(mail: OutboundMail) -> None:
    with pytest.raises(ValueError, match="not a plain addr-spec"):
        build_message(mail)


def test_a_mail_without_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="To address"):
        build_message(replace(BASE, to=()))


@given(
    subject=st.text(max_size=300),
    parent=st.text(max_size=100),
    name=st.text(max_size=150),
    topic=st.text(max_size=300),
    index=st.text(max_size=60),
    language=st.text(max_size=20),
)
def test_no_subject_name_parent_id_or_topic_adds_a_header(
    subject: str, parent: str, name: str, topic: str, index: str, language: str
) -> None:
    raw = build_message(
        replace(
            BASE,
            sender_name=name,
            subject=subject,
            in_reply_to=parent,
            references=(parent,),
            thread_topic=topic,
            thread_index=index,
            language=language,
            auto_submitted="auto-replied",
        )
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] != b" "]
    assert len(names) == len(set(names))  # every header once
    assert not {b"bcc", b"cc", b"reply-to"} & set(names)
    assert b"\n" not in head.replace(b"\r\n", b"")
    message = _parse(raw)
    assert message["To"] == "alice@example.org"
    assert message["From"].addresses[0].addr_spec == "helpdesk@example.org"
    assert message.get_content() == "body"


@given(
    subject=st.text(max_size=300),
    name=st.one_of(st.none(), st.text(max_size=150)),
    topic=st.text(max_size=300),
    to=st.lists(addresses, min_size=1, max_size=5),
    cc=st.lists(addresses, max_size=5),
    text=st.text(max_size=500),
    html=st.one_of(st.none(), st.text(max_size=500)),
)
def test_what_we_write_parses_back_to_what_we_gave(
    subject: str,
    name: str | None,
    topic: str,
    to: list[str],
    cc: list[str],
    text: str,
    html: str | None,
) -> None:
    mail = replace(
        BASE,
        sender_name=name,
        subject=subject,
        to=tuple(to),
        cc=tuple(cc),
        reply_to="helpdesk+INC-1001.abc123@example.org",
        thread_topic=topic,
        text=text,
        html=html,
    )
    message = _parse(build_message(mail))
    assert not message.defects
    assert str(message["Subject"]) == clean_subject(subject)
    (sender,) = message["From"].addresses
    assert sender.addr_spec == "helpdesk@example.org"
    assert sender.display_name == (clean_display_name(name) or "")
    assert [a.addr_spec for a in message["To"].addresses] == to
    if cc:
        assert [a.addr_spec for a in message["Cc"].addresses] == cc
    else:
        assert message["Cc"] is None
    assert message["Reply-To"] == "helpdesk+INC-1001.abc123@example.org"
    expected_topic = clean_subject(topic)
    assert (message["Thread-Topic"] or "") == expected_topic
    plain = message.get_body(("plain",))
    assert plain is not None
    assert _lines(plain.get_content()) == _lines(text)
    if html is None:
        assert message.get_content_type() == "text/plain"
    else:
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
        assert _lines(parts[1].get_content()) == _lines(html)


def test_all_headers_of_a_full_mail() -> None:
    mail = replace(
        BASE,
        sender_name="Jörg Müller (IT)",
        cc=("bob@example.org",),
        reply_to="helpdesk+INC-1001.abc123@example.org",
        subject="Drucker brennt",
        html="<p>body</p>",
        in_reply_to="<parent@example.com>",
        references=tuple(f"<{n}@example.com>" for n in range(30)),
        thread_topic="Drucker brennt",
        thread_index=THREAD_INDEX,
        language="de",
        auto_submitted="auto-generated",
    )
    message = _parse(build_message(mail))
    assert message["From"].addresses[0].display_name == "Jörg Müller (IT)"
    assert message["In-Reply-To"] == "<parent@example.com>"
    assert message["References"].split() == [f"<{n}@example.com>" for n in range(10, 30)]
    assert message["Thread-Topic"] == "Drucker brennt"
    assert message["Thread-Index"] == THREAD_INDEX
    assert message["Content-Language"] == "de"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message[LOOP_HEADER] == "example.org"
    assert message["Message-ID"] == "<1@example.org>"
    assert message["Date"].datetime == datetime(2026, 11, 25, tzinfo=UTC)


def test_the_same_mail_gives_the_same_bytes() -> None:
    mail = replace(BASE, html="<p>body</p>")
    assert build_message(mail) == build_message(mail)


@pytest.mark.parametrize(
    ("index", "language"),
    [
        ("AQID", "en_US"),  # too short to name a conversation; not a BCP 47 shape
        ("not base64 at all!", "de DE"),
        (THREAD_INDEX + "\r\nBcc: x@y.org", "de\r\nBcc: x@y.org"),
        (base64.b64encode(bytes(600)).decode(), "x"),  # more reply levels than we write
    ],
)
def test_malformed_optional_headers_are_left_out(index: str, language: str) -> None:
    message = _parse(build_message(replace(BASE, thread_index=index, language=language)))
    assert message["Thread-Index"] is None
    assert message["Content-Language"] is None


def test_no_auto_submitted_unless_asked() -> None:
    message = _parse(build_message(BASE))
    assert message["Auto-Submitted"] is None
    assert message["X-Auto-Response-Suppress"] is None
    assert message[LOOP_HEADER] == "example.org"


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Jane Doe", b"From: Jane Doe <helpdesk@example.org>"),
        ('Doe, "Jane"', b'From: "Doe, \\"Jane\\"" <helpdesk@example.org>'),
        ("  \r\n ", b"From: helpdesk@example.org"),
        ("Jane\r\nBcc: x@y.org", b'From: "Jane Bcc: x@y.org" <helpdesk@example.org>'),
        (
            "Jörg Müller via IT-Servicedesk",
            b"From: =?utf-8?b?SsO2cmcgTcO8bGxlcg==?= via IT-Servicedesk <helpdesk@example.org>",
        ),
        ("=?utf-8?q?Bcc:?=", b"From: =?utf-8?b?PT91dGYtOD9xP0JjYzo/PQ==?= <helpdesk@example.org>"),
    ],
)
def test_display_names_are_quoted_or_bare(name: str, written: bytes) -> None:
    raw = build_message(replace(BASE, sender_name=name))
    assert raw.split(b"\r\n", 1)[0] == written


def test_a_long_run_of_encoded_words_is_cut_to_one_encoded_word() -> None:
    name = "Zoë " + "Ünïcödé " * 10 + "via Help desk"
    shown = clean_display_name(name)
    assert shown is not None
    assert len(shown.encode()) <= 45
    assert name.startswith(shown)
    message = _parse(build_message(replace(BASE, sender_name=name)))
    assert message["From"].addresses[0].display_name == shown


@given(st.text(max_size=400), st.text(max_size=400))
def test_the_boundary_never_occurs_in_the_encoded_bodies(text: str, html: str) -> None:
    raw = build_message(replace(BASE, text=text, html=html))
    boundary = _parse(raw).get_boundary()
    assert boundary is not None
    assert boundary.startswith("=_")
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert body.count(boundary.encode()) == 3  # two delimiters and the close
