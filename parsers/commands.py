"""Agent commands at the top of a reply: `#status resolved`, `#owner me`, `#note`...

Reads the visible text of a reply (quotes and signature already gone) into a
CommandBlock. It only reads: whether the sender may command (an agent of the
queue, authenticated as issue 7 item 2 asks), whether a status exists in the
ticket's lifecycle and whether a ref names a ticket are the engine's questions.

The rules, for agents in docs/agents.md:
- The block is the run of lines at the top that are blank or start with `#`
  (after optional whitespace); the first other line ends it, and the text is
  exactly the rest of the input from that line on. A `#` line after the text
  started is text: no command ever comes from a line that is not in the block.
- Every `#` line in the block must be a valid command: `#1 priority is the
  printer` at the top is an error, not text. One error and the block is invalid,
  and then `commands` is empty: the caller cannot carry out half of it by mistake.
- Command names are case-insensitive; values are normalised (addresses
  lower-cased, refs upper-cased, `p1`..`p4` read as critical..low, `1.5h` as 90).
- Commands that set one thing (status, owner, priority, type, merge, note, time)
  may appear once; `#link` and `#watch` may repeat. At most MAX_COMMAND_LINES
  lines of at most MAX_LINE_CHARS characters each.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from parsers.text import one_line

MAX_COMMAND_LINES = 50
MAX_LINE_CHARS = 200
MAX_MINUTES = 24 * 60  # one reply logs at most a day: a typo like `#time 300h` is an error

PRIORITIES = ("low", "normal", "high", "critical")
TICKET_TYPES = ("incident", "service_request", "problem", "change", "release")
_PRIORITY_ALIASES = {"p1": "critical", "p2": "high", "p3": "normal", "p4": "low"}
_TYPE_ALIASES = {"request": "service_request", "service-request": "service_request"}
_OWNER_WORDS = {"me": "me", "none": "none", "nobody": "none"}
_WATCH_ACTIONS = ("add", "remove")

_NAME = re.compile(r"#(\S*)")
# Invisible characters an HTML mail may leave before the `#`: a line starting with
# them is still a command line, so a `#note` is never published by accident.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_STATUS = re.compile(r"[a-z][a-z0-9_]{0,39}")
# re.ASCII throughout: without it \d takes any script's digits and IGNORECASE lets the
# Kelvin sign match k.
_REF = re.compile(r"\[?([A-Z][A-Z0-9]{1,9}-\d{1,12})\]?", re.IGNORECASE | re.ASCII)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*"
# Outlook's plain text writes a linked address as `a@x.org<mailto:a@x.org>`.
_ADDRESS = re.compile(
    rf"(?:mailto:)?<?({_ADDR_SPEC})>?(?:\s*[<\[]mailto:({_ADDR_SPEC})[>\]])?",
    re.IGNORECASE | re.ASCII,
)
_HOURS = r"(?:h|hr|hrs|hour|hours)"
_MINUTES = r"(?:m|min|mins|minute|minutes)"
_DURATIONS = (
    re.compile(rf"(?P<h>\d{{1,3}}(?:[.,]\d{{1,2}})?){_HOURS}", re.ASCII),
    re.compile(rf"(?P<m>\d{{1,5}}){_MINUTES}", re.ASCII),
    re.compile(rf"(?P<h>\d{{1,3}}){_HOURS}(?P<m>\d{{1,2}}){_MINUTES}?", re.ASCII),
    re.compile(r"(?P<h>\d{1,3}):(?P<m>[0-5]\d)", re.ASCII),
)

# What a value check returns: the normalised arguments, or (a str) what is wrong.
Checked = tuple[str, ...] | str


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower case, without the `#`
    args: tuple[str, ...]  # normalised: `#time 1h30m` -> ("90",)
    line: int  # 1-based, in the text given to parse_commands
    raw: str  # the line as written, on one line

    @property
    def minutes(self) -> int | None:
        """The minutes a `#time` command logs."""
        return int(self.args[0]) if self.name == "time" else None


@dataclass(frozen=True, slots=True)
class CommandError:
    line: int
    raw: str
    problem: str  # one sentence naming the valid form


@dataclass(frozen=True, slots=True)
class CommandBlock:
    commands: tuple[Command, ...]  # empty unless valid: all or nothing
    errors: tuple[CommandError, ...]
    text: str  # the input from the first line after the block, exactly
    # A `#note` line is in the block, valid or not: the text was not meant for the
    # requester. (On an invalid block the engine publishes nothing at all.)
    note: bool

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Spec:
    form: str
    says: str
    example: str
    check: Callable[[list[str]], Checked]
    repeatable: bool = False


def parse_commands(text: str) -> CommandBlock:
    """The command block at the top of `text` and the text after it. Never raises."""
    lines = text.splitlines(keepends=True)
    commands: list[Command] = []
    errors: list[CommandError] = []
    first_seen: dict[str, int] = {}
    note = False
    count = 0
    end = len(lines)
    for index, line in enumerate(lines):
        stripped = _significant(line)
        if not stripped:
            continue
        if not stripped.startswith("#"):
            end = index
            break
        name, values = _split(stripped)
        note = note or name == "note"
        count += 1
        if count > MAX_COMMAND_LINES:
            if count == MAX_COMMAND_LINES + 1:
                errors.append(
                    CommandError(
                        line=index + 1,
                        raw=one_line(stripped, MAX_LINE_CHARS),
                        problem=f"more than {MAX_COMMAND_LINES} command lines: "
                        "send the rest in another reply",
                    )
                )
            continue
        found = _read_line(stripped, name, values, index + 1, first_seen)
        if isinstance(found, CommandError):
            errors.append(found)
        else:
            commands.append(found)
    rest = "".join(lines[end:])
    if "note" in first_seen and not rest.strip():
        errors.append(
            CommandError(
                line=first_seen["note"],
                raw="#note",
                problem="#note needs the note's text below the command lines",
            )
        )
    return CommandBlock(
        commands=() if errors else tuple(commands),
        errors=tuple(sorted(errors, key=lambda error: error.line)),
        text=rest,
        note=note,
    )


def explain_errors(block: CommandBlock) -> str:
    """The body of the reply to an invalid block: each bad line by its number, what
    is wrong with it, then the valid forms. Empty for a valid block."""
    if block.valid:
        return ""
    lines = [f"line {error.line}: {error.raw} - {error.problem}" for error in block.errors]
    return "\n".join([*lines, "", usage()])


def _significant(line: str) -> str:
    """The line without whitespace or invisible characters at either end: a command
    line is one whose significant part starts with `#`."""
    stripped = line.strip()
    if stripped and (stripped[0] in _INVISIBLE or stripped[-1] in _INVISIBLE):
        # Rare: only then pay for the loop (strip(chars) alone would keep inner spaces).
        previous = None
        while previous != stripped:
            previous = stripped
            stripped = stripped.strip().strip(_INVISIBLE)
    return stripped


def usage() -> str:
    """The valid forms, one per line, for the reply to an invalid block."""
    rows = [
        f"  {spec.form}\n      {spec.says}" + (f"; e.g. {spec.example}" if spec.example else "")
        for spec in _SPECS.values()
    ]
    return "\n".join(
        [
            "Commands go at the top of the reply, one per line, before any other text:",
            *rows,
            "If one line is invalid, none of the commands is carried out.",
        ]
    )


def _split(stripped: str) -> tuple[str, list[str]]:
    """The lower-cased name right after the `#` (empty for `# text`) and the values."""
    word = _NAME.match(stripped)
    name = word.group(1) if word else ""
    return name.lower(), stripped[1 + len(name) :].split()


def _read_line(
    stripped: str, name: str, values: list[str], number: int, first_seen: dict[str, int]
) -> Command | CommandError:
    raw = one_line(stripped, MAX_LINE_CHARS)
    if len(stripped) > MAX_LINE_CHARS:
        return CommandError(
            line=number, raw=raw, problem=f"longer than {MAX_LINE_CHARS} characters"
        )
    spec = _SPECS.get(name)
    if spec is None:
        return CommandError(line=number, raw=raw, problem=_unknown(name))
    checked = spec.check(values)
    if isinstance(checked, str):
        return CommandError(line=number, raw=raw, problem=f"{checked}: write {spec.form}")
    if not spec.repeatable:
        if name in first_seen:
            return CommandError(
                line=number,
                raw=raw,
                problem=f"#{name} is also on line {first_seen[name]}: give it once",
            )
        first_seen[name] = number
    return Command(name=name, args=checked, line=number, raw=raw)


def _unknown(name: str) -> str:
    known = ", ".join(f"#{n}" for n in _SPECS)
    if not name.isalpha():
        return (
            "a line starting with # at the top of a reply is read as a command "
            f"({known}); start other text with another character"
        )
    close = difflib.get_close_matches(name, _SPECS, n=1)
    hint = f"did you mean #{close[0]}? " if close else ""
    return f"#{name} is not a command ({hint}the commands are {known})"


def _status(values: list[str]) -> Checked:
    word = values[0].lower().replace("-", "_") if len(values) == 1 else ""
    return (word,) if _STATUS.fullmatch(word) else "give one status word"


def _owner(values: list[str]) -> Checked:
    value = " ".join(values)
    if value.lower() in _OWNER_WORDS:
        return (_OWNER_WORDS[value.lower()],)
    address = _address(value)
    return (address,) if address else "give an address, me or none"


def _priority(values: list[str]) -> Checked:
    word = values[0].lower() if len(values) == 1 else ""
    word = _PRIORITY_ALIASES.get(word, word)
    return (word,) if word in PRIORITIES else "unknown priority"


def _type(values: list[str]) -> Checked:
    word = values[0].lower() if len(values) == 1 else ""
    word = _TYPE_ALIASES.get(word, word)
    return (word,) if word in TICKET_TYPES else "unknown ticket type"


def _ref(values: list[str]) -> Checked:
    found = _REF.fullmatch(values[0]) if len(values) == 1 else None
    return (found.group(1).upper(),) if found else "give one ticket ref such as PRB-1002"


def _watch(values: list[str]) -> Checked:
    action = values[0].lower() if values else ""
    if action in _WATCH_ACTIONS:
        values = values[1:]
    else:
        action = "add"  # `#watch bob@example.org` can only mean add
    address = _address(" ".join(values))
    return (action, address) if address else "give add or remove and one address"


def _note(values: list[str]) -> Checked:
    return () if not values else "#note takes no value (the note is the text below the commands)"


def _time(values: list[str]) -> Checked:
    minutes = _minutes("".join(values).lower())
    if minutes is None or not 0 < minutes <= MAX_MINUTES:
        return f"give a duration of more than 0 and at most {MAX_MINUTES // 60}h"
    return (str(minutes),)


def _minutes(value: str) -> int | None:
    """`30m`, `1h`, `1h30m`, `1h30`, `1:30`, `1.5h`, `1,5h` in whole minutes (hours
    with decimals are rounded to the nearest minute)."""
    for pattern in _DURATIONS:
        found = pattern.fullmatch(value)
        if found:
            parts = found.groupdict()
            hours = Decimal((parts.get("h") or "0").replace(",", "."))
            minutes = int(parts.get("m") or 0)
            if parts.get("h") and parts.get("m") and minutes >= 60:
                return None
            total = hours * 60 + minutes
            return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return None


def _address(value: str) -> str | None:
    """A plain ASCII addr-spec, lower-cased; also as `<a@x>`, `mailto:a@x` or
    Outlook's `a@x<mailto:a@x>` (the linked address must be the same)."""
    found = _ADDRESS.fullmatch(value)
    if found is None:
        return None
    address, linked = found.group(1).lower(), found.group(2)
    if linked is not None and linked.lower() != address:
        return None
    return address


_SPECS: dict[str, _Spec] = {
    "status": _Spec(
        "#status STATUS", "set the status of the ticket's lifecycle", "#status resolved", _status
    ),
    "owner": _Spec(
        "#owner ADDRESS|me|none", "give the ticket to an agent, or to nobody",
        "#owner alice@example.org", _owner,
    ),
    "priority": _Spec(
        "#priority low|normal|high|critical",
        "set the priority; p1 (critical) to p4 (low) work too",
        "#priority high", _priority,
    ),
    "type": _Spec(
        "#type incident|service_request|problem|change|release", "change the ticket type",
        "#type problem", _type,
    ),
    "link": _Spec(
        "#link REF", "link another ticket, such as the problem behind an incident",
        "#link PRB-1002", _ref, repeatable=True,
    ),
    "merge": _Spec(
        "#merge REF", "merge this ticket into another", "#merge INC-1001", _ref
    ),
    "watch": _Spec(
        "#watch add|remove ADDRESS", "add or remove a watcher (Cc)",
        "#watch add bob@example.org", _watch, repeatable=True,
    ),
    "note": _Spec(
        "#note", "the text below the commands becomes an internal note, not sent "
        "to the requester", "", _note,
    ),
    "time": _Spec(
        "#time DURATION", f"log time worked, more than 0 and at most {MAX_MINUTES // 60}h",
        "#time 30m, #time 1h30m, #time 1.5h", _time,
    ),
}  # fmt: skip
