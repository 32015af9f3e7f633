"""Thread keys: subject tags, reply-address tokens and Outlook's conversation index."""

from __future__ import annotations

import base64
import email
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.threadkeys import MAX_KEYS, thread_keys


def _keys(headers: str, subject: str = "") -> tuple[str, ...]:
    raw = f"From: alice@example.org\n{headers}\n\nbody\n".encode()
    for mail_policy in (policy.compat32, policy.default):
        message = email.message_from_bytes(raw, policy=mail_policy)
        keys = thread_keys(message, subject)
    return keys


@pytest.mark.parametrize(
    ("subject", "tags"),
    [
        ("[INC-1042] printer on fire", ["INC-1042"]),
        ("RE: AW: [INC-1042] printer", ["INC-1042"]),
        ("Re: INC-1042 and REQ-7 both", ["INC-1042", "REQ-7"]),
        ("WG: [CHG-1001]: approve?", ["CHG-1001"]),
        ("covid-19 and iso-9001 are not tags", []),
        ("aINC-1042 or INC-1042x are not tags either", []),
        ("回复: [PRB-1002] 打印机", ["PRB-1002"]),
    ],
)
def test_subject_tags(subject: str, tags: list[str]) -> None:
    assert [k for k in _keys("", subject) if k.startswith("tag:")] == [f"tag:{t}" for t in tags]


def test_reply_address_tokens_from_recipient_headers() -> None:
    keys = _keys(
        "To: Help Desk <helpdesk+t0k3n.abc@example.org>\n"
        "Cc: bob@example.org, helpdesk+second=sig@example.org\n"
        "Delivered-To: helpdesk+t0k3n.abc@example.org"
    )
    assert keys == ("token:t0k3n.abc", "token:second=sig")


def test_a_plus_address_with_junk_is_no_token() -> None:
    assert _keys("To: helpdesk+a<b>@example.org, x+ab@example.org") == ()


def test_outlook_thread_index_keeps_the_conversation_part() -> None:
    conversation = bytes(range(22))
    first = base64.b64encode(conversation).decode()
    reply = base64.b64encode(conversation + b"\x01\x02\x03\x04\x05").decode()
    key = f"thread-index:{first}"
    assert _keys(f"Thread-Index: {first}") == (key,)
    assert _keys(f"Thread-Index: {reply}") == (key,)  # a reply adds 5 bytes per level
    assert _keys("Thread-Index: not base64 at all!") == ()
    assert _keys("Thread-Index: AQID") == ()  # too short to name a conversation


def test_strong_keys_come_first_and_repeat_once() -> None:
    keys = _keys("To: helpdesk+tok1@example.org", subject="[INC-1] [INC-1] INC-2")
    assert keys == ("token:tok1", "tag:INC-1", "tag:INC-2")


@given(st.text(max_size=2000))
def test_any_subject_gives_a_bounded_list_of_keys(subject: str) -> None:
    keys = _keys("", subject)
    assert len(keys) <= MAX_KEYS
    assert all(k.startswith("tag:") for k in keys)
