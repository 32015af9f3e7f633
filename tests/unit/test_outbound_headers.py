"""Headers we write are never built from unchecked input: addresses are plain
addr-specs, and no subject or Message-ID from a mail can add a header."""

from __future__ import annotations

import email
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.headers import build_message, checked_address


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


@given(subject=st.text(max_size=300), parent=st.text(max_size=100))
def test_no_subject_or_parent_id_adds_a_header(subject: str, parent: str) -> None:
    raw = build_message(
        sender="helpdesk@example.org",
        recipient="alice@example.org",
        subject=subject,
        message_id="<1@example.org>",
        date=datetime(2026, 11, 25, tzinfo=UTC),
        text="body",
        in_reply_to=parent,
        references=[parent],
        loop_marker="example.org",
        automatic=True,
    )
    message = email.message_from_bytes(raw)
    names = [name.lower() for name in message]
    assert len(names) == len(set(names))  # every header once
    assert not {"bcc", "cc"} & set(names)
    assert message["To"] == "alice@example.org"
    assert message.get_payload(decode=True) == b"body"
