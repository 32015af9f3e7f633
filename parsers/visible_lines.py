"""What one line of a mail is, by its wording alone: a separator, a header label, a
phone app's line, an attribution. Pure predicates over strings, compiled once from
the tables in `parsers.visible_markers`; `parsers.visible` decides what the lines
around them mean.

Every regex here is anchored and only ever sees a line short enough to be a marker
(the caller checks the length), so none can take more than a few microseconds.
"""

# ruff: noqa: RUF001, RUF003 -- mail is multilingual: Cyrillic words, CJK full-width
# punctuation and typographic dashes and quotes are what we match, not typos.

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from parsers.visible_markers import (
    DEVICE_WORDS,
    LANGUAGES,
    MOBILE_LINK,
    MOBILE_SUFFIX_MAX_CHARS,
)

DECORATION = "-_=*—–~"  # what clients draw separator lines with
RULE_STARTS = ("--", "__", "==", "**", "~~")
COLONS = (":", "：")  # CJK layouts write the full-width one
MAX_MOBILE_CHARS = 120
_LABEL_PREFIX = 40  # a header label sits at the start of its line
_MAX_BARE_LABEL = 12


class Strength(enum.Enum):
    WEAK = "weak"  # "bob wrote:": dropped before a quote, otherwise kept
    STRONG = "strong"  # names a date or an address: the history starts here


def _alternation(patterns: Iterable[str]) -> str:
    # Longest first, so "Enviado el" is tried before "Enviado".
    return "|".join(sorted(set(patterns), key=len, reverse=True))


def _phrase(text: str) -> str:
    return " ".join(text.casefold().split())


def _label_kinds() -> dict[str, str]:
    kinds: dict[str, str] = {}
    for markers in LANGUAGES:
        for kind, labels in (
            ("from", markers.header_from),
            ("date", markers.header_date),
            ("to", markers.header_to),
            ("cc", markers.header_cc),
            ("subject", markers.header_subject),
        ):
            kinds.update({label.casefold(): kind for label in labels})
    return kinds


_LABEL_KIND = _label_kinds()
# Lotus Notes puts bare labels on lines of their own ("To", "cc", "Subject").
_BARE_LABEL_KIND = {
    label: kind
    for label, kind in _LABEL_KIND.items()
    if kind in ("to", "cc", "subject") and 1 < len(label) <= _MAX_BARE_LABEL
}
_LABEL = re.compile(
    r"\s*\**\s*(" + _alternation(map(re.escape, _LABEL_KIND)) + r")\s*\**\s*[:：]",
    re.IGNORECASE,
)

_SEPARATORS = frozenset(_phrase(p) for m in LANGUAGES for p in m.separators)
_FORWARD_INTROS = frozenset(_phrase(p) for m in LANGUAGES for p in m.forward_intros)
_FORWARDED_BY = tuple(f"{_phrase(p)} " for m in LANGUAGES for p in m.forwarded_by)

_OPENER = re.compile(
    r"(?:" + _alternation(o for m in LANGUAGES for o in m.openers) + r"|\d)", re.IGNORECASE
)
_ENDINGS = frozenset(e.casefold() for m in LANGUAGES for e in m.endings)
# The verbs spelt backwards, matched at the start of the reversed line: one anchored
# match instead of a search trying every position (this runs on every line ending
# in a colon). Longest first: "napisał(a)" before "napisał", "a écrit" before "écrit".
_ENDING_REVERSED = re.compile(_alternation(re.escape(e[::-1]) for e in _ENDINGS))
_INNER_VERB = re.compile(_alternation(v for m in LANGUAGES for v in m.inner_verbs), re.IGNORECASE)
# Gmail in Russian and Japanese names no verb: "пн, 2 апр. 2012 г. в 18:26, Megan <m@x>:".
_VERBLESS = re.compile(r"<\s?[^<>\s]{1,100}@[^<>\s]{1,100}>\s*[:：]$")
# Old Gmail: "2011/4/7 Nathan <support@example.com>" with no colon at all.
_DATED_ADDRESS = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,200}<[^<>\s]{1,100}@[^<>\s]{1,100}>"
)
_TIME = re.compile(r"\d{1,2}:\d{2}")
_EVIDENCE = re.compile(r"\d{1,2}:\d{2}|(?:19|20)\d\d|@|\d{1,2}[./]\d{1,2}[./]\d{2,4}")
# A line ending a sentence is not the first half of a wrapped attribution ("Apr." is).
_SENTENCE_END = re.compile(r"(?:[!?。！？]|[^\W\d_]{4}\.)$")

_MOBILE_PREFIXES = [p for m in LANGUAGES for p in m.mobile_prefixes]
_MOBILE_LINES = [line for m in LANGUAGES for line in m.mobile_lines]
_MOBILE = re.compile(
    r"(?:"
    + _alternation(map(re.escape, _MOBILE_PREFIXES))
    + r")\s(?:[\w'’.®-]+\s){0,4}(?:"
    + _alternation(map(re.escape, DEVICE_WORDS))
    + r")(?:['’]a|®)?(?!\w)(?:\s[\w'’.®()&-]+){0,6}\.?"
    + MOBILE_LINK
    + r"|(?:"
    + _alternation(_MOBILE_LINES)
    + r")"
    + MOBILE_LINK,
    re.IGNORECASE,
)
# The first letters a phone app's line can start with: most lines skip the regex.
MOBILE_HEADS = frozenset(p[0].casefold() for p in (*_MOBILE_PREFIXES, *_MOBILE_LINES))
_MOBILE_SUFFIXES = tuple(s for m in LANGUAGES for s in m.mobile_suffixes)


def is_decorated(stripped: str) -> bool:
    """Starts like a drawn rule: "--", "__", "==", an em dash."""
    return stripped[:2] in RULE_STARTS or stripped[0] in "—–"


def is_rule(stripped: str) -> bool:
    return is_decorated(stripped) and not stripped.strip(DECORATION + " ")


def is_separator(stripped: str) -> bool:
    """ "-----Original Message-----", Gmail's and Thunderbird's forward lines, Notes'
    "----- Forwarded by ... -----"; the caller checked the decoration."""
    core = _phrase(stripped.strip(DECORATION + ":： \t"))
    return bool(core) and (core in _SEPARATORS or core.startswith(_FORWARDED_BY))


def is_forward_intro(stripped: str) -> bool:
    """Apple Mail's "Begin forwarded message:" and its translations."""
    return stripped.endswith(COLONS) and _phrase(stripped.rstrip(":： \t")) in _FORWARD_INTROS


def is_mobile(stripped: str) -> bool:
    """ "Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for iOS"..."""
    if len(stripped) > MAX_MOBILE_CHARS:
        return False
    if stripped.endswith(_MOBILE_SUFFIXES):
        return len(stripped) <= MOBILE_SUFFIX_MAX_CHARS
    return stripped[0].casefold() in MOBILE_HEADS and _MOBILE.fullmatch(stripped) is not None


def may_be_label(line: str, stripped: str) -> bool:
    """The cheap test before `label_kind`: a colon near the start, or a short line."""
    head = line[:_LABEL_PREFIX]
    return ":" in head or "：" in head or len(stripped) <= _MAX_BARE_LABEL


def label_kind(line: str) -> tuple[str, bool] | None:
    """The header field a line names (from, date, to, cc, subject), and whether it is a
    bare Lotus Notes label on a line of its own."""
    match = _LABEL.match(line[:_LABEL_PREFIX])
    if match:
        return _LABEL_KIND[match.group(1).casefold()], False
    bare = _BARE_LABEL_KIND.get(line.strip().casefold())
    return (bare, True) if bare else None


def has_evidence(text: str) -> bool:
    """Names a time, a year, a date or an address, as attributions and Notes' sender
    lines do and sentences rarely do."""
    return _EVIDENCE.search(text) is not None


def ends_sentence(line: str) -> bool:
    return _SENTENCE_END.search(line) is not None


def attribution_core(text: str) -> str:
    """An attribution without its decoration: Yahoo's "--- On ...", Notes' "-----".
    A decorated line may drop the colon ("------On 12/29/1987, Julius wrote-----")."""
    stripped = text.strip()
    core = stripped.strip(DECORATION + " \t")
    decorated = stripped[:2] in RULE_STARTS or stripped[-2:] in RULE_STARTS
    if core and decorated and not core.endswith(COLONS):
        return f"{core}:"
    return core


def may_end_attribution(core: str) -> bool:
    return core.endswith((*COLONS, ">"))


def opens_attribution(core: str) -> bool:
    """Starts the way attributions do: "On", "Am", "Le", "El", "Il giorno", a date."""
    return _OPENER.match(core) is not None


def is_bare_ending(core: str) -> bool:
    """Just the verb, "wrote:": the rest is on the line above."""
    return core.endswith(COLONS) and core.rstrip(":：").rstrip().casefold() in _ENDINGS


def _verb_at_end(core: str) -> bool:
    """The colon-ended `core` ends with a verb as a word of its own, after something
    (the name): "bob wrote:", "Megan <m@x> 于2012年4月2日 写道"."""
    body = core.rstrip(":：").rstrip().casefold()
    match = _ENDING_REVERSED.match(body[::-1])
    if match is None:
        return False
    before = len(body) - match.end()
    first = body[before]
    # Verbs in cased scripts are words ("com>wrote" is, "rewrote" is not); CJK verbs
    # follow the name directly.
    cased = first.upper() != first.lower()
    return before > 0 and not (cased and body[before - 1].isalnum())


def attribution_strength(core: str) -> Strength | None:
    """Whether `core` is an attribution, and how sure: one naming a date or an
    address is strong. The verb must end it ("a écrit :"), or follow an opener or an
    address ("Am ... schrieb Megan <m@x>:"), or be missing as Gmail leaves it in
    Russian and Japanese (then a time must be there)."""
    if core.endswith(">"):
        return Strength.WEAK if _DATED_ADDRESS.fullmatch(core) else None
    if not core.endswith(COLONS):
        return None
    if _verb_at_end(core) or (
        _INNER_VERB.search(core) and (opens_attribution(core) or "@" in core)
    ):
        return Strength.STRONG if has_evidence(core) else Strength.WEAK
    if _VERBLESS.search(core) and _TIME.search(core):
        return Strength.STRONG
    return None
