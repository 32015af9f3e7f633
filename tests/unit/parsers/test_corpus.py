"""The parser on mail written by others: ../shared/corpus, each mail beside its expectations.

Every mail parses (only the one file that is not a mail raises Unparseable);
header fields match exactly; the other fields meet the issue's accuracy targets,
which tests/support/corpus_score.py computes per field and per source (printed
at the end of the run, and kept in docs/parsing.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parsers
from tests.support.corpus import corpus_dir, corpus_mails, require_corpus
from tests.support.corpus_score import DISPUTED, NOT_MAIL, TARGETS, name_of, score_corpus

MAILS = corpus_mails()


def test_the_corpus_is_there() -> None:
    require_corpus()
    assert len(MAILS) > 500, f"expected the whole corpus at {corpus_dir()}"
    assert score_corpus().rate("attachments")[1] > 400


@pytest.mark.parametrize(("mail", "field"), sorted(DISPUTED))
def test_disputed_expectations_still_fail(mail: str, field: str) -> None:
    # If the corpus is fixed, the dispute must go.
    require_corpus()
    checks = [c for c in score_corpus().checks if (c.mail, c.field) == (mail, field)]
    assert checks, f"{mail} has no {field} expectation: drop it from DISPUTED"
    assert not all(c.ok for c in checks), f"{mail}: {field} now holds: drop it from DISPUTED"


@pytest.mark.parametrize("path", MAILS, ids=name_of)
def test_every_mail_parses_into_json_ready_fields(path: Path) -> None:
    raw = path.read_bytes()
    if name_of(path) in NOT_MAIL:
        with pytest.raises(parsers.Unparseable):
            parsers.parse(raw)
        return
    parsed = parsers.parse(raw)
    json.dumps(parsed.to_json())  # every field is JSON-ready for `mailbridge parse --json`


@pytest.mark.parametrize("field", sorted(TARGETS))
def test_accuracy_meets_the_target(field: str) -> None:
    require_corpus()
    score = score_corpus()
    assert not score.crashes
    passed, total = score.undisputed_rate(field)
    assert total > 0, f"the corpus has no {field} expectations"
    misses = "\n".join(
        f"  {c.mail}: {c.detail}" for c in score.failures(field) if (c.mail, field) not in DISPUTED
    )
    assert passed / total >= TARGETS[field], (
        f"{field}: {passed}/{total} = {passed / total:.3f} < {TARGETS[field]}\n{misses}"
    )
