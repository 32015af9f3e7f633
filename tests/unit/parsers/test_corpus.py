"""The parser on mail written by others: ../shared/corpus, each mail beside its expectations.

Only the fields the corpus asserts are checked; a missing field means "not asserted".
Classification and visible text are the parser issue's work and get their own tests there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parsers
from tests.support.corpus import corpus_dir, corpus_mails, require_corpus

MAILS = corpus_mails()
# Not RFC 5322 at all: an Outlook .msg (OLE compound file) kept in mail-parser's tests.
NOT_MAIL = {"mail-parser/mail_outlook_1.eml"}


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_the_corpus_is_there() -> None:
    require_corpus()
    assert len(MAILS) > 500, f"expected the whole corpus at {corpus_dir()}"


@pytest.mark.parametrize("path", MAILS, ids=_name)
def test_header_fields_match_the_corpus(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text())
    raw = path.read_bytes()
    if _name(path) in NOT_MAIL:
        with pytest.raises(parsers.Unparseable):
            parsers.parse(raw)
        return
    parsed = parsers.parse(raw)
    for key, attribute in (
        ("from", "sender"),
        ("subject", "subject"),
        ("message_id", "message_id"),
        ("in_reply_to", "in_reply_to"),
    ):
        if key in expected:
            assert getattr(parsed, attribute) == expected[key], key
    json.dumps(parsed.to_json())  # every field is JSON-ready for `mailbridge parse --json`
