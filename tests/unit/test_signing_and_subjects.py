"""Signed ticket tags and subject topics: pure functions, tested on their edges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbridge.engine.subjects import topic, without_prefixes
from mailbridge.signing import Signer, sub_address

SIGNER = Signer("0" * 64)


def test_a_tag_names_its_ref_and_nothing_else() -> None:
    tag = SIGNER.tag("INC-1042")
    assert SIGNER.ref_of(tag) == "INC-1042"
    assert SIGNER.ref_of(tag.lower()) == "INC-1042"  # relays that lower-case local parts
    assert SIGNER.ref_of_message_id(f"<{tag}.abc123@example.org>") == "INC-1042"
    assert SIGNER.ref_of(tag.replace("1042", "1043")) is None
    assert SIGNER.ref_of(tag + "x") is None
    assert Signer("1" * 64).ref_of(tag) is None  # another installation's tag
    assert sub_address("helpdesk@example.org", tag) == f"helpdesk+{tag}@example.org"
    assert sub_address("helpdesk+old@example.org", tag) == f"helpdesk+{tag}@example.org"


@given(st.text(max_size=300))
def test_no_text_is_taken_for_a_tag_by_chance(text: str) -> None:
    assert SIGNER.ref_of(text) is None or text.lower().startswith(
        SIGNER.tag(SIGNER.ref_of(text) or "").lower()
    )


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("AW: [INC-1001] Drucker defekt", "Drucker defekt"),
        ("Re: RE: Fwd: FW: printer", "printer"),
        ("SV: VS: Antw: Odp: Ynt: WG: TR: RV: Rif: done", "done"),
        ("Re[2]: RE^3: Re : x", "x"),
        ("回复\uff1a答复: 测试", "测试"),  # a full-width colon, as CJK clients write it
        ("[Fwd: Re: old style]", "old style"),
        ("Réunion demain", "Réunion demain"),
        ("Rescue plan", "Rescue plan"),
        ("[INC-1] [REQ-22] printer", "printer"),
    ],
)
def test_topic_drops_what_clients_add(subject: str, expected: str) -> None:
    assert topic(subject) == expected


@given(st.text(max_size=300))
def test_prefix_stripping_is_idempotent(subject: str) -> None:
    once = without_prefixes(subject)
    assert without_prefixes(once) == once
    assert len(once) <= len(subject)
