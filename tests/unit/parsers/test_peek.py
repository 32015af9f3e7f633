"""The receivers' cheap look at the Message-ID agrees with the full parse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import parsers
from parsers import peek
from tests.support.corpus import corpus_mails, require_corpus
from tests.support.corpus_score import NOT_MAIL, name_of


def test_peek_finds_what_the_parser_finds_on_the_corpus() -> None:
    require_corpus()
    disagree = []
    for path in corpus_mails():
        if name_of(path) in NOT_MAIL:
            continue
        raw = path.read_bytes()
        parsed = parsers.parse(raw).message_id
        if parsed is not None and peek.message_id(raw) != parsed:
            disagree.append((name_of(path), peek.message_id(raw), parsed))
    assert disagree == []


def test_folded_and_missing_ids() -> None:
    assert peek.message_id(b"Subject: x\r\nMessage-ID:\r\n <a@b>\r\n\r\nbody") == "<a@b>"
    assert peek.message_id(b"Subject: x\n\nMessage-ID: <in@body>\n") is None
    assert peek.message_id(b"message-id: <lower@case>\n\n") == "<lower@case>"


@given(st.binary(max_size=2000))
def test_any_bytes_give_an_id_or_none(raw: bytes) -> None:
    found = peek.message_id(raw)
    assert found is None or (found.startswith("<") and found.endswith(">"))
