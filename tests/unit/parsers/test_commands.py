"""parse_commands: agent command lines at the top of a reply, all or nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.commands import (
    MAX_COMMAND_LINES,
    MAX_LINE_CHARS,
    Command,
    CommandBlock,
    CommandError,
    explain_errors,
    parse_commands,
    usage,
)

INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def significant(line: str) -> str:
    """What is left of a line without whitespace and invisible characters at its ends."""
    previous = None
    while previous != line:
        previous, line = line, line.strip().strip(INVISIBLE)
    return line


def parsed(block: CommandBlock) -> list[tuple[str, tuple[str, ...]]]:
    return [(command.name, command.args) for command in block.commands]


# --- examples ---------------------------------------------------------------------


def test_a_full_block_and_the_text_after_it() -> None:
    text = (
        "\n\n#status resolved\r\n"
        "#OWNER Alice@Example.ORG\n"
        "#Priority P1\n"
        "  #type Service-Request\n"
        "\n"
        "#link [prb-1002]\n"
        "#link INC-7\n"
        "#merge inc-1001\n"
        "#watch add Bob@Example.org\n"
        "#watch remove carol@example.org\n"
        "#time 1h30m\n"
        "\n"
        "Printer replaced.\n"
        "#status closed is what we do next week\n"
    )
    block = parse_commands(text)
    assert block.valid
    assert not block.note
    assert parsed(block) == [
        ("status", ("resolved",)),
        ("owner", ("alice@example.org",)),
        ("priority", ("critical",)),
        ("type", ("service_request",)),
        ("link", ("PRB-1002",)),
        ("link", ("INC-7",)),
        ("merge", ("INC-1001",)),
        ("watch", ("add", "bob@example.org")),
        ("watch", ("remove", "carol@example.org")),
        ("time", ("90",)),
    ]
    assert [c.line for c in block.commands] == [3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    assert block.commands[3].raw == "#type Service-Request"
    assert block.commands[-1].minutes == 90
    assert block.commands[0].minutes is None
    # The text is exactly the rest: a `#` line in it stays text.
    assert block.text == "Printer replaced.\n#status closed is what we do next week\n"


def test_a_reply_without_commands_is_all_text() -> None:
    block = parse_commands("\n\nThanks, that fixed it.\n#status resolved\n")
    assert block == CommandBlock(
        commands=(), errors=(), text="Thanks, that fixed it.\n#status resolved\n", note=False
    )
    assert parse_commands("") == CommandBlock(commands=(), errors=(), text="", note=False)


def test_a_note_takes_the_text_below() -> None:
    block = parse_commands("#note\n#status pending\n\nCalled the user, waiting on the vendor.")
    assert block.valid
    assert block.note
    assert parsed(block) == [("note", ()), ("status", ("pending",))]
    assert block.text == "Called the user, waiting on the vendor."


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("#status In-Progress", ("status", ("in_progress",))),
        ("#STATUS known_error", ("status", ("known_error",))),
        ("#owner me", ("owner", ("me",))),
        ("#owner None", ("owner", ("none",))),
        ("#owner nobody", ("owner", ("none",))),
        ("#owner <Alice@Example.org>", ("owner", ("alice@example.org",))),
        ("#owner mailto:alice@example.org", ("owner", ("alice@example.org",))),
        # Outlook's plain text links an address to itself
        (
            "#owner alice@example.org<mailto:alice@example.org>",
            ("owner", ("alice@example.org",)),
        ),
        (
            "#owner alice@example.org <mailto:Alice@example.org>",
            ("owner", ("alice@example.org",)),
        ),
        ("#owner helpdesk@localhost", ("owner", ("helpdesk@localhost",))),
        ("#priority low", ("priority", ("low",))),
        ("#priority NORMAL", ("priority", ("normal",))),
        ("#priority p2", ("priority", ("high",))),
        ("#priority p3", ("priority", ("normal",))),
        ("#priority P4", ("priority", ("low",))),
        ("#type incident", ("type", ("incident",))),
        ("#type request", ("type", ("service_request",))),
        ("#type service_request", ("type", ("service_request",))),
        ("#type Change", ("type", ("change",))),
        ("#type release", ("type", ("release",))),
        ("#link prb-1002", ("link", ("PRB-1002",))),
        ("#watch bob@example.org", ("watch", ("add", "bob@example.org"))),
        ("#watch REMOVE bob@example.org", ("watch", ("remove", "bob@example.org"))),
        ("#time 30m", ("time", ("30",))),
        ("#time 1h", ("time", ("60",))),
        ("#time 90m", ("time", ("90",))),
        ("#time 1.5h", ("time", ("90",))),
        ("#time 1,5h", ("time", ("90",))),
        ("#time 1h30", ("time", ("90",))),
        ("#time 1h 30m", ("time", ("90",))),
        ("#time 1:30", ("time", ("90",))),
        ("#time 45 min", ("time", ("45",))),
        ("#time 2 hours", ("time", ("120",))),
        ("#time 0.33h", ("time", ("20",))),  # 19.8 minutes, rounded
        ("#time 24h", ("time", ("1440",))),
        ("\u200b#status resolved", ("status", ("resolved",))),
        ("#status\u00a0resolved", ("status", ("resolved",))),  # HTML's no-break space
    ],
)
def test_forms_and_their_normal_values(line: str, expected: tuple[str, tuple[str, ...]]) -> None:
    block = parse_commands(f"{line}\n\ntext")
    assert block.errors == ()
    assert parsed(block) == [expected]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("#1 priority is the printer", "read as a command"),
        ("# Summary", "read as a command"),
        ("#", "read as a command"),
        ("##status resolved", "read as a command"),
        ("#stauts resolved", "did you mean #status?"),
        ("#assign alice@example.org", "is not a command"),
        ("#status", "write #status STATUS"),
        ("#status in progress", "one status word"),
        ("#status résolu", "one status word"),
        ("#owner alice", "give an address, me or none"),
        ("#owner alice@example.org bob@example.org", "give an address"),
        ("#owner alice@example.org<mailto:mallory@example.org>", "give an address"),
        ("#owner alice@exa mple.org", "give an address"),
        ("#priority urgent", "#priority low|normal|high|critical"),
        ("#priority p5", "unknown priority"),
        ("#type bug", "unknown ticket type"),
        ("#link 1002", "ticket ref"),
        ("#link PRB-1002 PRB-1003", "ticket ref"),
        ("#link PRB-\u0661\u0662", "ticket ref"),  # Arabic-Indic digits
        ("#merge", "ticket ref"),
        ("#watch add", "add or remove and one address"),
        ("#watch delete bob@example.org", "add or remove"),
        ("#note please call back", "#note takes no value"),
        ("#time 30", "duration"),
        ("#time 0m", "more than 0"),
        ("#time 25h", "at most 24h"),
        ("#time 1h60m", "duration"),
        ("#time 1.5m", "duration"),
        ("#time \u0663\u0660m", "duration"),
        ("#time soon", "duration"),
    ],
)
def test_bad_lines_are_named_with_what_is_wrong(line: str, problem: str) -> None:
    block = parse_commands(f"#status resolved\n{line}\n\nThe text.")
    assert not block.valid
    assert block.commands == ()  # all or nothing
    assert len(block.errors) == 1
    error = block.errors[0]
    assert (error.line, error.raw) == (2, line.strip())
    assert problem in error.problem
    assert block.text == "The text."


def test_every_bad_line_is_named_and_nothing_is_carried_out() -> None:
    block = parse_commands(
        "#status resolved\n#priority urgent\n#owner me\n#tiem 30m\n#status closed\n\nDone."
    )
    assert block.commands == ()
    assert [(e.line, e.raw) for e in block.errors] == [
        (2, "#priority urgent"),
        (4, "#tiem 30m"),
        (5, "#status closed"),
    ]
    assert "did you mean #time?" in block.errors[1].problem
    assert "also on line 1" in block.errors[2].problem


def test_commands_that_set_one_thing_are_given_once() -> None:
    for name, value in [("owner", "me"), ("merge", "INC-1"), ("time", "5m"), ("note", "")]:
        block = parse_commands(f"#{name} {value}\n#{name.upper()} {value}\n\nText")
        assert [e.line for e in block.errors] == [2], name
    repeated = parse_commands("#link PRB-1\n#link PRB-2\n#watch a@x.org\n#watch b@x.org")
    assert repeated.valid


def test_an_invalid_block_still_says_it_asked_for_a_note() -> None:
    # The engine publishes nothing from an invalid block; the flag says why that matters.
    block = parse_commands("#note\n#status resolvd now\n\nThe user is difficult.")
    assert not block.valid
    assert block.note
    assert parse_commands("#note x\n\nInternal.").note


def test_a_note_without_text_is_an_error() -> None:
    block = parse_commands("#status pending\n#note\n\n  \n")
    assert [(e.line, e.raw) for e in block.errors] == [(2, "#note")]
    assert "text below" in block.errors[0].problem


def test_at_most_fifty_command_lines() -> None:
    links = [f"#link PRB-{n}" for n in range(MAX_COMMAND_LINES)]
    assert parse_commands("\n".join(links)).valid
    block = parse_commands("\n".join([*links, "#link PRB-999", "#status x y", "", "Text"]))
    assert [e.line for e in block.errors] == [MAX_COMMAND_LINES + 1]
    assert "more than 50 command lines" in block.errors[0].problem
    assert block.text == "Text"


def test_at_most_200_characters_a_line() -> None:
    line = "#time" + " " * (MAX_LINE_CHARS - 8) + "30m"
    assert len(line) == MAX_LINE_CHARS
    assert parse_commands(line).valid
    block = parse_commands(line.replace("30m", "300m"))
    assert "longer than 200 characters" in block.errors[0].problem
    assert block.errors[0].raw == "#time 300m"  # on one line, spaces collapsed


def test_the_raw_line_is_one_clean_line() -> None:
    block = parse_commands("#status\u202e resolved\x00 x")
    assert block.errors[0].raw == "#status resolved x"


def test_the_error_reply_names_each_bad_line_then_the_forms() -> None:
    block = parse_commands("#status resolved\n#priority urgent\n#owner me\n#tiem 30m\n\nDone.")
    reply = explain_errors(block)
    assert reply.startswith(
        "line 2: #priority urgent - unknown priority: write #priority low|normal|high|critical\n"
        "line 4: #tiem 30m - #tiem is not a command (did you mean #time? "
    )
    assert reply.endswith(usage())
    assert explain_errors(parse_commands("#status resolved")) == ""


def test_usage_names_every_form() -> None:
    text = usage()
    for form in [
        "#status STATUS",
        "#owner ADDRESS|me|none",
        "#priority low|normal|high|critical",
        "#type incident|service_request|problem|change|release",
        "#link REF",
        "#merge REF",
        "#watch add|remove ADDRESS",
        "#note",
        "#time DURATION",
    ]:
        assert form in text
    assert "none of the commands is carried out" in text


# --- properties -------------------------------------------------------------------

TRICKY_LINES = [
    "",
    "   ",
    "\u200b",
    "#status resolved",
    "  #owner me",
    "#note",
    "#time 1h30m",
    "#link PRB-1002",
    "#1 priority is the printer",
    "# heading",
    "#status",
    "#",
    "Thanks!",
    "  indented text",
    "text with #status resolved inside",
    "\u200b#note",
    "\uff03status resolved",  # a full-width number sign is not `#`
]
LINE_BREAKS = ["\n", "\r\n", "\r", "\u2028", "\x0c"]

line_soup = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(TRICKY_LINES), st.text(max_size=30)),
        st.sampled_from(LINE_BREAKS),
    ),
    max_size=30,
).map(lambda parts: "".join(line + brk for line, brk in parts))


def check_structure(text: str, block: CommandBlock) -> None:
    lines = text.splitlines(keepends=True)
    end = next(
        (
            i
            for i, line in enumerate(lines)
            if significant(line) and not significant(line).startswith("#")
        ),
        len(lines),
    )
    # The block ends at the first line that is neither blank nor `#`; the text is
    # exactly the rest of the input.
    assert block.text == "".join(lines[end:])
    assert text.endswith(block.text)
    # Every command and every error is a `#` line of the block.
    items: list[Command | CommandError] = [*block.commands, *block.errors]
    for item in items:
        assert 1 <= item.line <= end
        assert significant(lines[item.line - 1]).startswith("#")
    assert block.valid == (not block.errors)
    if not block.valid:
        assert block.commands == ()
    assert len(block.errors) <= MAX_COMMAND_LINES + 1
    assert all(len(item.raw) <= MAX_LINE_CHARS for item in items)


@given(st.text())
def test_any_text_parses_into_a_consistent_block(text: str) -> None:
    check_structure(text, parse_commands(text))


@given(line_soup)
def test_any_mix_of_lines_parses_into_a_consistent_block(text: str) -> None:
    check_structure(text, parse_commands(text))


def cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word.lower(), word.upper(), word.title()])


addresses = st.from_regex(
    r"[a-z0-9+_-]{1,10}(\.[a-z0-9+_-]{1,10})?@[a-z0-9]{1,10}(\.[a-z]{2,6}){0,2}",
    fullmatch=True,
)
refs = st.from_regex(r"[A-Za-z][A-Za-z0-9]{1,9}-[0-9]{1,12}", fullmatch=True)
Written = tuple[str, tuple[str, ...]]  # (the value as written, the args it parses to)


def an_address() -> st.SearchStrategy[Written]:
    return addresses.flatmap(lambda a: cased(a).map(lambda w: (w, (a,))))


def a_duration() -> st.SearchStrategy[Written]:
    def forms(minutes: int) -> list[str]:
        hours, rest = divmod(minutes, 60)
        written = [f"{minutes}m", f"{minutes} min", f"{hours}:{rest:02d}"]
        if hours:
            written += [f"{hours}h{rest}m", f"{hours}h {rest}m"]
        if rest == 0:
            written.append(f"{hours}h")
        if rest in (15, 30, 45):
            written.append(f"{hours + rest / 60}h")
        return written

    return st.integers(1, 24 * 60).flatmap(
        lambda m: st.sampled_from(forms(m)).map(lambda w: (w, (str(m),)))
    )


SINGLE_VALUES: dict[str, st.SearchStrategy[Written]] = {
    "status": st.from_regex(r"[a-z][a-z0-9]{0,10}(_[a-z0-9]{1,8})?", fullmatch=True).flatmap(
        lambda s: st.sampled_from([s, s.upper(), s.replace("_", "-")]).map(lambda w: (w, (s,)))
    ),
    "owner": st.one_of(
        st.sampled_from([("me", ("me",)), ("NONE", ("none",)), ("nobody", ("none",))]),
        an_address(),
    ),
    "priority": st.sampled_from(
        [("low", ("low",)), ("High", ("high",)), ("critical", ("critical",)), ("p3", ("normal",))]
    ),
    "type": st.sampled_from([("problem", ("problem",)), ("Service-Request", ("service_request",))]),
    "merge": refs.map(lambda r: (r, (r.upper(),))),
    "note": st.just(("", ())),
    "time": a_duration(),
}
REPEATED_VALUES: dict[str, st.SearchStrategy[Written]] = {
    "link": refs.map(lambda r: (r, (r.upper(),))),
    "watch": st.tuples(st.sampled_from(["add", "remove", "Add"]), addresses).map(
        lambda p: (f"{p[0]} {p[1]}", (p[0].lower(), p[1]))
    ),
}


@st.composite
def command_lists(draw: st.DrawFn) -> list[tuple[str, Written]]:
    names = draw(st.lists(st.sampled_from(sorted(SINGLE_VALUES)), unique=True))
    chosen = [(name, draw(SINGLE_VALUES[name])) for name in names]
    for name, values in REPEATED_VALUES.items():
        chosen += [(name, value) for value in draw(st.lists(values, max_size=5))]
    return draw(st.permutations(chosen))


first_text_lines = st.text(min_size=1, max_size=40).filter(
    lambda line: (
        line.splitlines() == [line]
        and bool(significant(line))
        and not significant(line).startswith("#")
    )
)


@given(
    command_lists(),
    st.data(),
    st.one_of(st.just(""), st.tuples(first_text_lines, st.text()).map("\n".join)),
)
def test_valid_commands_round_trip(
    commands: list[tuple[str, Written]], data: st.DataObject, text: str
) -> None:
    if any(name == "note" for name, _ in commands) and not text.strip():
        text = "The note.\n"
    rendered = []
    for name, (written, _args) in commands:
        indent = data.draw(st.sampled_from(["", " ", "\t"]))
        blank = data.draw(st.sampled_from(["", "", "\n"]))
        rendered.append(f"{blank}{indent}#{data.draw(cased(name))} {written}".rstrip() + "\n")
    block = parse_commands("".join(rendered) + text)
    assert block.errors == ()
    assert parsed(block) == [(name, args) for name, (_written, args) in commands]
    assert block.text == text
    assert block.note == any(name == "note" for name, _ in commands)


def test_commands_are_frozen_values() -> None:
    command = Command(name="status", args=("resolved",), line=1, raw="#status resolved")
    with pytest.raises(AttributeError):
        command.name = "owner"  # type: ignore[misc]  # frozen: the failing assignment is the test
