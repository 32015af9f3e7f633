"""one_line: what is left of a header-derived string is one clean line."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from parsers.text import one_line


def test_controls_bidi_and_folds_go() -> None:
    assert one_line("application/x\r\n y\x00") == "application/x y"
    assert one_line("evil\u202efdp.exe\x1b\x07") == "evilfdp.exe"
    assert one_line("  a \t b  ") == "a b"
    assert one_line("x" * 2000, limit=10) == "x" * 10


@given(st.text(max_size=300))
def test_the_result_is_always_one_printable_line(value: str) -> None:
    line = one_line(value)
    assert line == line.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in line)
    assert not any(c.isspace() and c != " " for c in line)
    assert "  " not in line
    assert one_line(line) == line
