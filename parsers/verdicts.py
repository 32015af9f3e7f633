"""An approver's verdict on a change: the first word of the visible text of the reply.

Only reads the words. Whether the reply counts (the approval token in the reply
address: signed, single use, unexpired, bound to this sender; the sender
authenticated as issue 7 item 2 asks; the change still undecided) is the engine's
check, never this module's.

A wrong verdict is an audit finding, a missing one costs the approver one more
mail: so when in doubt the answer is None and the engine asks again.
- The first word decides, in any case, with `.`, `!`, `,`, `;`, `:` after it.
- Short words that also begin ordinary sentences (yes, ok, no, ja, nein, si, non,
  approval, accept...) count only alone on the first line: "No objection",
  "OK, I'll check with the team", "Si vous..." are no verdict.
- No verdict when the first sentence is a question ("Approve?", "Approved by whom?"),
  when a negation follows the word ("Approved not..."), or when the word runs on
  into something else ("no-go", "yes/no", "approved2"). "Not approved" and
  "Hi, approved" start with another word: no verdict either.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

MAX_COMMENT_CHARS = 2000

Decision = Literal["approve", "reject"]

APPROVE_WORDS = frozenset(
    {
        "approve", "approved", "approval", "yes", "ok", "okay", "accept", "accepted",
        "lgtm", "genehmigt", "genehmigen", "ja", "zugestimmt", "freigegeben", "oui",
        "approuvé", "approuve", "sí", "si", "aprobado", "goedgekeurd",
    }
)  # fmt: skip
REJECT_WORDS = frozenset(
    {
        "reject", "rejected", "no", "deny", "denied", "decline", "declined", "abgelehnt",
        "ablehnen", "nein", "non", "rejeté", "rechazado", "afgewezen", "nee",
    }
)  # fmt: skip
# Words that count only alone on the first line: interjections that also open
# ordinary sentences, nouns, and German infinitives ("Genehmigen kann ich das nicht").
WEAK_WORDS = frozenset(
    {
        "yes", "ok", "okay", "ja", "oui", "sí", "si", "no", "nein", "non", "nee",
        "approval", "accept", "genehmigen", "ablehnen",
    }
)  # fmt: skip
_NEGATIONS = frozenset({"not", "nicht", "kein", "keine", "pas", "no", "non", "niet", "never"})
_DECISIONS: dict[str, Decision] = {
    **dict.fromkeys(APPROVE_WORDS, "approve"),
    **dict.fromkeys(REJECT_WORDS, "reject"),
}

# A word: letters, and combining accents (a decomposed "approuvé").
_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")
# After the word: "Approved." "approve!!" "Ja," "OK..." (and CJK full stop, "!" and comma).
_PUNCTUATION = ".!,;:\u2026\u3002\uff01\uff0c"
_SENTENCE_END = re.compile(r"[.!\n\u3002\uff01]")
_LEADING = re.compile(r"\A[\s\ufeff\u200b-\u200f]+")  # whitespace, a BOM, zero-width marks
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    comment: str  # the rest of the reply, stripped, at most MAX_COMMENT_CHARS


def parse_verdict(text: str) -> Verdict | None:
    """The verdict the reply starts with, or None when it does not clearly start
    with one. Never raises."""
    text = _LEADING.sub("", text, count=1)
    word = _WORD.match(text)
    if word is None:
        return None
    key = unicodedata.normalize("NFKC", word.group()).casefold()
    decision = _DECISIONS.get(key)
    if decision is None:
        return None
    after = text[word.end() :]
    rest = after.lstrip(_PUNCTUATION)
    punctuation = len(rest) < len(after)
    if rest and not rest[0].isspace():
        return None  # "approve?", "no-go", "yes/no"
    sentence = _SENTENCE_END.split(after, maxsplit=1)[0]
    if sentence.rstrip().endswith(("?", "\uff1f")):
        return None  # "Approuvé ?", "Approved by whom?"
    line = rest.partition("\n")[0].strip()
    if line and (key in WEAK_WORDS or (not punctuation and _first_word(line) in _NEGATIONS)):
        return None
    comment = _CONTROLS.sub("", rest).strip()[:MAX_COMMENT_CHARS].rstrip()
    return Verdict(decision=decision, comment=comment)


def _first_word(line: str) -> str:
    found = _WORD.match(line)
    return found.group().casefold() if found else ""
