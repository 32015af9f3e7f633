"""parse_verdict: an approver's first word decides; when in doubt there is no verdict."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.verdicts import (
    APPROVE_WORDS,
    MAX_COMMENT_CHARS,
    REJECT_WORDS,
    WEAK_WORDS,
    Decision,
    Verdict,
    parse_verdict,
)

A: Decision = "approve"
R: Decision = "reject"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve", (A, "")),
        ("Approved.", (A, "")),
        ("approve!", (A, "")),
        ("YES,", (A, "")),
        ("  \n\nApproved", (A, "")),
        ("\ufeffApproved", (A, "")),
        ("Approved, go ahead on Monday.\n\n-- \nJan", (A, "go ahead on Monday.\n\n-- \nJan")),
        ("Approved by me", (A, "by me")),
        ("Approved!! Thanks. Any questions, call me?", (A, "Thanks. Any questions, call me?")),
        ("LGTM", (A, "")),
        ("accepted: low risk", (A, "low risk")),
        ("OK", (A, "")),
        ("okay.\nRoll back if the tests fail.", (A, "Roll back if the tests fail.")),
        ("\uff2f\uff2b", (A, "")),  # full-width letters
        ("Yes\n", (A, "")),
        ("rejected", (R, "")),
        ("Reject: no rollback plan", (R, "no rollback plan")),
        ("Denied; see the CAB minutes", (R, "see the CAB minutes")),
        ("Declined", (R, "")),
        ("deny", (R, "")),
        ("No.", (R, "")),
        ("NO!\nNot during the freeze.", (R, "Not during the freeze.")),
        # German
        ("Genehmigt", (A, "")),
        ("genehmigt, bitte am Montag umsetzen", (A, "bitte am Montag umsetzen")),
        ("Zugestimmt.", (A, "")),
        ("Freigegeben", (A, "")),
        ("Genehmigen", (A, "")),
        ("Ja", (A, "")),
        ("Ja.\nGruß, Jan", (A, "Gruß, Jan")),
        ("Abgelehnt: Rollback-Plan fehlt", (R, "Rollback-Plan fehlt")),
        ("Ablehnen", (R, "")),
        ("Nein.", (R, "")),
        ("nein\n\nNicht vor dem Release.", (R, "Nicht vor dem Release.")),
        # French, Spanish, Dutch
        ("Approuvé", (A, "")),
        ("approuve", (A, "")),
        ("Approuve\u0301", (A, "")),  # decomposed é
        ("Oui", (A, "")),
        ("Rejeté", (R, "")),
        ("Non.", (R, "")),
        ("Aprobado", (A, "")),
        ("Sí", (A, "")),
        ("si", (A, "")),
        ("Rechazado", (R, "")),
        ("Goedgekeurd", (A, "")),
        ("Afgewezen", (R, "")),
        ("Nee", (R, "")),
        # control characters never reach the audit trail
        ("Approved\n\x00note\x1b", (A, "note")),
    ],
)
def test_verdicts(text: str, expected: tuple[Decision, str]) -> None:
    assert parse_verdict(text) == Verdict(decision=expected[0], comment=expected[1])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n  ",
        # another first word
        "Not approved",
        "not approved.",
        "Nicht genehmigt",
        "Pas approuvé",
        "Hi Bob,\nApproved.",
        "I approve",
        "Disapproved",
        "+1",
        "👍",
        "1. Approved",
        "*Approved*",
        "¿Aprobado?",
        # a short word that begins an ordinary sentence
        "No objection",
        "No objections from me.",
        "No, no objection.",
        "No problem",
        "Nein, keine Einwände",
        "Nein danke",
        "OK, I will check with the team and come back to you",
        "Ok to proceed?",
        "Yes please",
        "Yes - approved",
        "Ja, aber erst nach dem Freeze",
        "Si vous êtes d'accord",
        "Non-standard change, please resubmit",
        "Approval denied",
        "Approval pending the rollback plan",
        "Accept my apologies, I need more time",
        "Genehmigen kann ich das nicht",
        "Ablehnen würde ich das nicht",
        # a question
        "Approve?",
        "Approuvé ?",
        "Approved by whom?",
        "Rejected? Why?",
        "approve\uff1f",  # full-width question mark
        # a negation right after the word
        "Approved not",
        "Genehmigt nicht",
        # the word runs on into something else
        "no-go",
        "yes/no",
        "approved2",
        "Approved.Thanks",
        "okay'ish",
        "approve-or-reject",
    ],
)
def test_no_verdict_when_in_doubt(text: str) -> None:
    assert parse_verdict(text) is None


def test_the_word_lists_are_disjoint_and_weak_words_are_verdict_words() -> None:
    assert not APPROVE_WORDS & REJECT_WORDS
    assert WEAK_WORDS <= APPROVE_WORDS | REJECT_WORDS
    for word in APPROVE_WORDS | REJECT_WORDS:
        assert word == unicodedata.normalize("NFKC", word).casefold()


def test_the_comment_is_cut() -> None:
    verdict = parse_verdict("Approved\n" + "x" * 5000)
    assert verdict is not None
    assert verdict.comment == "x" * MAX_COMMENT_CHARS


# --- properties -------------------------------------------------------------------

WORDS = sorted(APPROVE_WORDS | REJECT_WORDS)
_FIRST_WORD = re.compile(r"[\s\ufeff\u200b-\u200f]*((?:[^\W\d_]|[\u0300-\u036f])+)")


def decision_of(word: str) -> str | None:
    key = unicodedata.normalize("NFKC", word).casefold()
    return A if key in APPROVE_WORDS else R if key in REJECT_WORDS else None


@given(st.text())
def test_any_text_gives_a_verdict_only_from_its_first_word(text: str) -> None:
    verdict = parse_verdict(text)
    if verdict is None:
        return
    first = _FIRST_WORD.match(text)
    assert first is not None
    assert verdict.decision == decision_of(first.group(1))
    assert len(verdict.comment) <= MAX_COMMENT_CHARS
    assert verdict.comment == verdict.comment.strip()


@given(
    st.sampled_from(WORDS),
    st.sampled_from([str.lower, str.upper, str.title]),
    st.sampled_from(["", ".", "!", ",", ":"]),
    st.text(),
)
def test_a_verdict_word_alone_on_the_first_line_decides_whatever_follows(
    word: str, case: Callable[[str], str], punctuation: str, rest: str
) -> None:
    written = case(word)
    verdict = parse_verdict(f" {written}{punctuation}\n{rest}")
    assert verdict is not None
    assert verdict.decision == decision_of(word)
    expected = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", rest).strip()
    assert verdict.comment == expected[:MAX_COMMENT_CHARS].rstrip()


@given(
    st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=12).filter(
        lambda word: decision_of(word) is None
    ),
    st.sampled_from([" ", "\n", ", "]),
    st.text(),
)
def test_any_other_first_word_gives_no_verdict(word: str, separator: str, rest: str) -> None:
    assert parse_verdict(word + separator + rest) is None
