"""Properties of the parser over arbitrary input: it returns a ParsedMail or raises
Unparseable, nothing else, and what it returns is safe to use downstream."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers

HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Date",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Auto-Submitted",
        "Precedence",
        "List-Id",
        "X-Junk",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "multipart/mixed; boundary=x",
            "multipart/report; report-type=delivery-status",
            "text/plain; charset=unknown-8bit",
            "=?utf-8?b?w6k=?=",
            "=?bogus?q?x?=",
            "<a@b>",
            "<<>>",
            "auto-replied",
            "bulk",
            "base64",
            "quoted-printable",
        ]
    ),
)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    body = draw(st.binary(max_size=400))
    sep = draw(st.sampled_from([b"\r\n", b"\n"]))
    head = sep.join(f"{n}: {v}".encode("utf-8", "surrogateescape") for n, v in headers)
    return head + sep + sep + body


def _check(raw: bytes) -> None:
    try:
        parsed = parsers.parse(raw)
    except parsers.Unparseable as error:
        message = str(error)
        assert message, "Unparseable must say why"
        return
    assert isinstance(parsed, parsers.ParsedMail)
    assert "\n" not in parsed.subject
    assert "\r" not in parsed.subject
    for mid in (parsed.message_id, parsed.in_reply_to, *parsed.references):
        assert mid is None or (mid.startswith("<") and mid.endswith(">") and " " not in mid)
    for address in (parsed.sender, *parsed.to, *parsed.cc, *parsed.reply_to):
        assert address is None or ("@" in address and not any(c.isspace() for c in address))
    assert parsed.classification in set(parsers.Classification)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_raise_unparseable(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mails())
def test_mail_shaped_input_never_breaks_the_parser(raw: bytes) -> None:
    _check(raw)


def _nested(depth: int) -> bytes:
    """A mail whose text part sits inside `depth` nested multiparts."""
    parts = [
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    ]
    head = b"From: a@example.org\r\nSubject: deep\r\n"
    return head + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nbottom\r\n"


def test_deep_nesting_is_a_defect_not_a_crash() -> None:
    parsed = parsers.parse(_nested(200))
    assert any("deeper" in d for d in parsed.defects)


def test_empty_and_headerless_input_is_unparseable() -> None:
    for raw in (b"", b"   \r\n", b"\x00\x01\x02 binary junk", b"just some words\r\nmore"):
        try:
            parsers.parse(raw)
        except parsers.Unparseable:
            continue
        raise AssertionError(f"{raw!r} parsed as a mail")


def test_nesting_deeper_than_the_interpreter_allows_is_unparseable() -> None:
    # ~1000 nested multiparts make the stdlib parser recurse past Python's limit.
    with pytest.raises(parsers.Unparseable, match="too deep"):
        parsers.parse(_nested(1000))


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    # SMTPUTF8 mail, and clients that never learnt RFC 2047, send 8-bit headers.
    raw = (
        "From: Jörg Müller <jörg@example.org>\r\n"
        "Subject: Drucker kaputt \u2013 bitte\r\n"
        "Message-ID: <8bit@example.org>\r\n\r\nbody\r\n"
    ).encode()
    parsed = parsers.parse(raw)
    assert parsed.subject == "Drucker kaputt \u2013 bitte"
    assert (parsed.sender, parsed.sender_name) == ("jörg@example.org", "Jörg Müller")
