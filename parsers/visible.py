"""The visible new text of a reply: quoted history, forwarded mail and signature removed.

What we chose: one pass over the lines with precompiled, anchored regexes, in the
manner of talon's line markers and email-reply-parser's fragments, written again for
our needs: neither is installed, and both cover fewer of the languages we serve. From
talon we took the wrapped "On ... wrote:" and "when in doubt, keep it"; from
email-reply-parser the "Sent from my X" and signature rules. The wording of every
client in every language lives in `parsers.visible_markers`, what one line is in
`parsers.visible_lines`; this module decides what the lines mean together.

- A *cut* ends the new text; the rest of the mail is history. Cuts are separator lines
  ("-----Original Message-----", "---------- Forwarded message ---------", "Begin
  forwarded message:"), a reply header block (From, Sent/Date and one more field in any
  language of the tables, recognised by which fields it names, so Outlook's table
  converted from HTML counts too), a mailing list footer, and an attribution ("On ...
  wrote:") naming a date or an address that is *not* followed by `>` lines: HTML mail
  converted to text has lost its `>`.
- Before the first cut everything is kept except `>` lines, an attribution that
  introduces them, "Sent from my iPhone" lines and a short `-- ` signature. Text
  between quote blocks stays: that is how inline answers are written.
- Removed lines leave one blank line behind, so two answers never run together and a
  second pass sees the same neighbours: visible_text(visible_text(x)) == visible_text(x).
- When unsure, keep: a line is a marker only when it matches a client's whole
  wording; an attribution without a date or address never cuts; a `--` block longer
  than a signature is text; if nothing would be left (a bare forward), the whole text
  is returned.

Cost is linear in the input: a line is looked at by a regex only when a cheap test
(its first or last character, a colon near its start) says it may be a marker, marker
regexes only see lines short enough to be markers, and every look-around is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from parsers.visible_lines import (
    Strength,
    attribution_core,
    attribution_strength,
    ends_sentence,
    has_evidence,
    is_bare_ending,
    is_decorated,
    is_forward_intro,
    is_mobile,
    is_rule,
    is_separator,
    label_kind,
    may_be_label,
    may_end_attribution,
    opens_attribution,
)

# Only the start of a longer text is searched, and returned: a line costs up to tens
# of microseconds to classify, and no reply writes its new text further down.
MAX_SCANNED_CHARS = 256 * 1024
MAX_MARKER_CHARS = 300  # no client writes a marker line longer than this
MAX_ATTRIBUTION_CHARS = 400  # an attribution wrapped over up to three lines
MAX_ATTRIBUTION_LINES = 3
MAX_HEADER_GAP = 2  # wrapped value lines allowed between two header fields
MAX_SIGNATURE_LINES = 12  # a longer "--" block is text, not a signature
MIN_FOOTER_RULE = 20  # Mailman's footer rule is 47 underscores
_ATTRIBUTION_ENDS = ":\uff1a>"  # the last character of a possible attribution
_BLANK_RUN = re.compile(r"\n{3,}")

# A line's kind, one character per line in a string: finding the next quote or text
# line is then a str.find in C, and quoted lines cost nothing in the Python loop.
BLANK, QUOTE, TEXT = "b", "q", "t"
_NONBLANK = re.compile("[qt]")


@dataclass(slots=True)
class _Marks:
    """What the scan found before the cut: lines to drop besides quotes."""

    cut: int
    dropped: set[int] = field(default_factory=set)
    attributions: set[int] = field(default_factory=set)
    signatures: list[int] = field(default_factory=list)


def visible_text(text: str) -> str:
    """The new text the sender wrote; when unsure, keep text rather than lose it.
    Of a text longer than MAX_SCANNED_CHARS only the lines that start in its first
    MAX_SCANNED_CHARS characters are read."""
    if len(text) > MAX_SCANNED_CHARS:
        cut = max(text.rfind("\n", 0, MAX_SCANNED_CHARS), 0) or MAX_SCANNED_CHARS
        text = text[:cut]
    lines = [line.rstrip() for line in text.splitlines()]
    kinds = "".join(
        [
            BLANK
            if not line
            else QUOTE
            if line[0] == ">" or (line[0].isspace() and line.lstrip()[0] == ">")
            else TEXT
            for line in lines
        ]
    )
    marks = _scan(lines, kinds)
    _drop_signatures(kinds, marks)
    dropped = marks.dropped
    result = _tidy(
        [
            line if kind == TEXT and i not in dropped else ""
            for i, (line, kind) in enumerate(zip(lines[: marks.cut], kinds, strict=False))
        ]
    )
    if result or TEXT not in kinds:
        return result
    # Only history was found, e.g. a bare forward: what it carries is all we have.
    return _tidy(lines)


def _tidy(lines: Sequence[str]) -> str:
    """At most one blank line in a row, none at either end."""
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


def _scan(lines: Sequence[str], kinds: str) -> _Marks:
    """Mark attribution and phone lines and "--" lines up to the first cut."""
    scanner = _Scanner(lines, kinds)
    i = kinds.find(TEXT)
    while i >= 0:
        if len(lines[i]) <= MAX_MARKER_CHARS:
            cut = scanner.cut_at(i)
            if cut is not None:
                scanner.marks.cut = _absorb_separators(lines, kinds, cut)
                break
        i = kinds.find(TEXT, i + 1)
    return scanner.marks


class _Scanner:
    """The state of one scan: what was marked, and how far header runs were walked."""

    def __init__(self, lines: Sequence[str], kinds: str) -> None:
        self.lines = lines
        self.kinds = kinds
        self.marks = _Marks(cut=len(lines))
        self.walked_to = 0  # a run of header lines is walked once, from its first line

    def cut_at(self, i: int) -> int | None:
        """Where the history starts if text line i starts it; else mark the line."""
        lines, kinds = self.lines, self.kinds
        stripped = lines[i].strip()
        decorated = is_decorated(stripped)
        if decorated:
            if stripped == "--":
                self.marks.signatures.append(i)
                return None
            if is_separator(stripped) or _is_footer(lines, kinds, i):
                return i
        if i >= self.walked_to and may_be_label(lines[i], stripped):
            start, self.walked_to = _header_block(lines, kinds, i)
            if start is not None:
                return start
        if decorated or stripped[-1] in _ATTRIBUTION_ENDS:
            if is_forward_intro(stripped):
                return i
            attribution = _attribution_ending_at(lines, kinds, i)
            if attribution is not None:
                return self._attribution(i, *attribution)
        if is_mobile(stripped):
            self.marks.dropped.add(i)
        return None

    def _attribution(self, i: int, first: int, strength: Strength) -> int | None:
        """Before a quote an attribution goes with it; without one, a strong one
        starts the history (HTML mail converted to text lost its `>`)."""
        following = _NONBLANK.search(self.kinds, i + 1)
        if following is not None and self.kinds[following.start()] == QUOTE:
            span = range(first, i + 1)
            self.marks.dropped.update(span)
            self.marks.attributions.update(span)
            return None
        return first if strength is Strength.STRONG else None


def _is_footer(lines: Sequence[str], kinds: str, i: int) -> bool:
    """Mailman's list footer: a rule of underscores, then "<list> mailing list"."""
    rule = lines[i].strip()
    return (
        len(rule) >= MIN_FOOTER_RULE
        and rule.strip("_") == ""
        and i + 1 < len(lines)
        and kinds[i + 1] == TEXT
        and lines[i + 1].strip().casefold().endswith("mailing list")
    )


def _header_block(lines: Sequence[str], kinds: str, i: int) -> tuple[int | None, int]:
    """Whether the run of header-like lines starting at line i is a reply header block,
    and where the run ends. A block names From, Sent/Date and one more field (Outlook,
    Gmail and Apple forwards, Yahoo, Thunderbird all give the date; a form the sender
    typed, "From: Monday / To: Friday / Subject: leave", does not), or it is Lotus
    Notes' bare To and Subject labels. Returns where the block starts."""
    if label_kind(lines[i]) is None:
        return None, i + 1
    seen: set[str] = set()
    bare: set[str] = set()
    gap = 0
    j = i
    while j < len(lines) and kinds[j] == TEXT and len(lines[j]) <= MAX_MARKER_CHARS:
        label = label_kind(lines[j])
        if label is None:
            gap += 1
            if gap > MAX_HEADER_GAP:
                break
        else:
            gap = 0
            seen.add(label[0])
            if label[1]:
                bare.add(label[0])
        j += 1
    if {"from", "date"} <= seen and len(seen) >= 3:
        return i, j
    if {"to", "subject"} <= bare:
        return _lotus_sender_lines(lines, kinds, i), j
    return None, j


def _lotus_sender_lines(lines: Sequence[str], kinds: str, i: int) -> int:
    """Lotus Notes writes the sender and the date on the two lines above "To"."""
    start = i
    while (
        start > 0
        and i - start < 2
        and kinds[start - 1] == TEXT
        and has_evidence(lines[start - 1][:MAX_MARKER_CHARS])
    ):
        start -= 1
    return start


def _attribution_ending_at(lines: Sequence[str], kinds: str, i: int) -> tuple[int, Strength] | None:
    """An attribution ("On ... wrote:") whose last line is line i: its first line and
    strength. Clients wrap it over up to three lines; the span then starts at the
    nearest line that opens like one ("On", "Am", "Le", a date...)."""
    if not may_end_attribution(attribution_core(lines[i])):
        return None
    joined = ""
    for first in range(i, max(-1, i - MAX_ATTRIBUTION_LINES), -1):
        line = lines[first]
        if kinds[first] != TEXT or len(line) > MAX_MARKER_CHARS:
            break
        if first < i and ends_sentence(line):
            break
        joined = f"{line.strip()} {joined}" if joined else line.strip()
        core = attribution_core(joined)
        if len(core) > MAX_ATTRIBUTION_CHARS:
            break
        if opens_attribution(core) and (strength := attribution_strength(core)):
            return first, strength
    return _attribution_without_opener(lines, kinds, i)


def _attribution_without_opener(
    lines: Sequence[str], kinds: str, i: int
) -> tuple[int, Strength] | None:
    """No opener: the attribution may still start with the sender's address on a line
    above ("Megan <m@x> 于2012年4月2日周一" / "下午6:26写道"...), or "wrote:" may stand
    alone under the name."""
    first = i
    while (
        first > 0
        and i - first < MAX_ATTRIBUTION_LINES - 1
        and kinds[first - 1] == TEXT
        and len(lines[first - 1]) <= MAX_MARKER_CHARS
        and ("@" in lines[first - 1] or is_bare_ending(attribution_core(lines[first])))
        and not ends_sentence(lines[first - 1])
    ):
        first -= 1
    while first <= i:
        joined = " ".join(line.strip() for line in lines[first : i + 1])
        if strength := attribution_strength(attribution_core(joined)):
            return first, strength
        first += 1
    return None


def _absorb_separators(lines: Sequence[str], kinds: str, cut: int) -> int:
    """Move a cut up over the blank lines, rules and "Original Message" lines above it."""
    while cut > 0 and (kinds[cut - 1] == BLANK or _is_rule_or_separator(lines[cut - 1])):
        cut -= 1
    return cut


def _is_rule_or_separator(line: str) -> bool:
    stripped = line.strip()
    if not stripped or len(stripped) > MAX_MARKER_CHARS or not is_decorated(stripped):
        return False
    return is_rule(stripped) or is_separator(stripped)


def _drop_signatures(kinds: str, marks: _Marks) -> None:
    """Drop each "-- " block short enough to be a signature. It ends where the quoted
    history resumes, so answers written after the quote are kept. Last first: a later
    "--" block is gone before an earlier one counts its lines, as a second pass would."""
    ends: dict[int, int] = {}  # a dropped signature's first line -> where it ended
    for start in reversed(marks.signatures):
        if start >= marks.cut or start in marks.dropped:
            continue
        block = _signature_block(kinds, marks, start, ends)
        if block is not None:
            lines, ends[start] = block
            marks.dropped.update(lines)


def _signature_block(
    kinds: str, marks: _Marks, start: int, ends: dict[int, int]
) -> tuple[list[int], int] | None:
    """The text lines of the "--" block at `start` and where it ends, or None when it
    is too long to be a signature. Lines already dropped (phone lines, a later
    signature, stepped over whole) do not count."""
    stop = kinds.find(QUOTE, start + 1, marks.cut)
    stop = marks.cut if stop < 0 else stop
    block = [start]
    j = kinds.find(TEXT, start + 1, stop)
    while j >= 0 and j not in marks.attributions:
        if j in ends:
            j = kinds.find(TEXT, ends[j], stop)
            continue
        if j not in marks.dropped:
            block.append(j)
            if len(block) > MAX_SIGNATURE_LINES + 1:
                return None
        j = kinds.find(TEXT, j + 1, stop)
    return block, stop if j < 0 else j
