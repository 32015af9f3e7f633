"""Each limit: a mail past it yields a ParsedMail with a defect naming the limit, never
a crash, a hang or a RecursionError; and a 25 MB mail parses in bounded memory."""

from __future__ import annotations

import base64
import binascii
import tracemalloc

import pytest

import parsers
from parsers import Limits
from parsers.limits import bound
from tests.support.mime_builders import tnef

HEAD = b"From: a@example.org\r\nTo: desk@example.org\r\nSubject: limits\r\nMessage-ID: <l@x>\r\n"


def _defects(parsed: parsers.ParsedMail, limit: str) -> list[str]:
    return [d for d in parsed.defects if d.startswith(f"{limit}:")]


@pytest.mark.parametrize(
    "field",
    ["max_size", "max_depth", "max_parts", "max_header_bytes", "max_html_bytes", "max_text_bytes"],
)
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


def test_typical_mail_is_within_every_limit() -> None:
    raw = HEAD + b"Content-Type: text/plain\r\n\r\nhello\r\n"
    assert parsers.parse(raw).defects == ()


def test_max_size_reads_the_start_of_the_mail() -> None:
    raw = HEAD + b"\r\n" + b"line of text\r\n" * 1000
    parsed = parsers.parse(raw, limits=Limits(max_size=2000))
    assert _defects(parsed, "max_size")
    assert parsed.subject == "limits"
    assert 0 < len(parsed.full_text) < 2000


def test_max_header_bytes_keeps_the_body() -> None:
    junk = b"".join(b"X-Junk-%d: %s\r\n" % (i, b"j" * 200) for i in range(2000))
    raw = HEAD + junk + b"Content-Type: text/plain\r\n\r\nthe body\r\n"
    parsed = parsers.parse(raw)
    assert _defects(parsed, "max_header_bytes")
    assert parsed.subject == "limits"
    assert parsed.full_text == "the body"


def test_a_single_huge_header_line_is_cut() -> None:
    raw = HEAD + b"X-Huge: " + b"h" * 2_000_000 + b"\r\n\r\nbody\r\n"
    parsed = parsers.parse(raw)
    assert _defects(parsed, "max_header_bytes")
    assert parsed.sender == "a@example.org"


def _nested(
    depth: int, declaration: bytes = b'boundary="b%d"', body: bytes = b"bottom\r\n"
) -> bytes:
    parts = b"".join(
        b"Content-Type: multipart/mixed; " + declaration % i + b"\r\n\r\n--b%d\r\n" % i
        for i in range(depth)
    )
    return HEAD + parts + b"Content-Type: text/plain\r\n\r\n" + body


# 200 and 1000 levels: test_properties.py
@pytest.mark.parametrize("depth", [25, 5000])
def test_max_depth(depth: int) -> None:
    parsed = parsers.parse(_nested(depth))
    assert _defects(parsed, "max_depth")
    assert parsed.subject == "limits"


def test_nesting_within_max_depth_is_read_whole() -> None:
    parsed = parsers.parse(_nested(15))
    assert parsed.full_text == "bottom"
    assert not _defects(parsed, "max_depth")


@pytest.mark.parametrize(
    "declaration",
    [b'BoUnDaRy="b%d"', b'boundary*0="b%d"', b"boundary*=us-ascii''b%d", b'boundary\r\n ="b%d"'],
)
def test_deep_nesting_in_any_spelling_is_cut_before_the_parser(declaration: bytes) -> None:
    # Below the interpreter's recursion limit, but the stdlib would read 300 levels
    # and 20,000 body lines once per level (18 s): the scan must see every spelling.
    raw = _nested(300, declaration, b"bottom line\r\n" * 20_000)
    assert [d for d in bound(raw, Limits()).defects if d.startswith("max_depth:")]
    assert _defects(parsers.parse(raw), "max_depth")


@pytest.mark.parametrize(
    "declaration",
    [
        b'BoUnDaRy="p"',
        b'boundary*0="p"',
        b"boundary*=us-ascii''%70",
        b'boundary*0="p"; boundary*1=""',
        b'\r\n boundary\r\n ="p"',
    ],
)
def test_max_parts_before_the_parser_in_any_spelling(declaration: bytes) -> None:
    body = b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 5000
    raw = HEAD + b"Content-Type: multipart/mixed; " + declaration + b"\r\n\r\n" + body
    assert [d for d in bound(raw, Limits()).defects if d.startswith("max_parts:")]


def test_a_split_boundary_is_neutralised_whole() -> None:
    # boundary*0 renamed but boundary*1 left would make the stdlib read "c" alone.
    parts = b"".join(
        b'Content-Type: multipart/mixed; boundary*0="b%d"; boundary*1="c"\r\n\r\n--b%dc\r\n'
        % (i, i)
        for i in range(30)
    )
    raw = HEAD + parts + b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    cut = bound(raw, Limits()).raw
    assert cut.count(b"boundary*") == 2 * 20


def test_deeply_nested_forwarded_mails() -> None:
    raw = HEAD + b"Content-Type: message/rfc822\r\n\r\n" * 2000 + b"Subject: x\r\n\r\nend\r\n"
    parsed = parsers.parse(raw)
    assert _defects(parsed, "max_depth")


def test_nesting_hidden_in_folded_headers_falls_back_to_the_header() -> None:
    # The structural scan cannot see "message/" on a continuation line; the parser
    # would recurse ~2000 levels. What is left is the header: still a ParsedMail.
    raw = HEAD + b"Content-Type:\r\n message/rfc822\r\n\r\n" * 2000 + b"Subject: x\r\n\r\nend\r\n"
    parsed = parsers.parse(raw)
    assert parsed.subject == "limits"
    assert _defects(parsed, "max_depth")


def _parts(count: int) -> bytes:
    body = b"".join(
        b'--p\r\nContent-Type: application/octet-stream; name="f%d.bin"\r\n\r\nx\r\n' % i
        for i in range(count)
    )
    return HEAD + b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n' + body + b"--p--\r\n"


def test_max_parts_before_the_parser() -> None:
    parsed = parsers.parse(_parts(5000))
    assert _defects(parsed, "max_parts")
    assert 0 < len(parsed.attachments) <= 500


def test_max_parts_in_the_walk() -> None:
    parsed = parsers.parse(_parts(30), limits=Limits(max_parts=10))
    assert _defects(parsed, "max_parts")
    assert len(parsed.attachments) < 10


def test_max_text_bytes() -> None:
    raw = HEAD + b"Content-Type: text/plain\r\n\r\n" + b"word " * 2000 + b"END"
    parsed = parsers.parse(raw, limits=Limits(max_text_bytes=1000))
    assert _defects(parsed, "max_text_bytes")
    assert len(parsed.full_text) <= 1000
    assert "END" not in parsed.full_text


def test_a_huge_text_body_is_read_in_bounded_time() -> None:
    # 83 s and 680 MB for 20 MB before there was a text limit; visible_text is the
    # slow part, and only reads the first MAX_SCANNED_CHARS.
    raw = HEAD + b"\r\n" + b"a:\r\n" * 1_000_000
    parsed = parsers.parse(raw)
    assert _defects(parsed, "max_text_bytes")
    assert len(parsed.full_text) == Limits().max_text_bytes
    assert 0 < len(parsed.text) <= 256 * 1024
    assert "visible text: only the first 262144 characters were searched for it" in parsed.defects


def test_max_html_bytes() -> None:
    html = b"<p>" + b"word " * 2000 + b"</p><p>END</p>"
    raw = HEAD + b"Content-Type: text/html\r\n\r\n" + html
    parsed = parsers.parse(raw, limits=Limits(max_html_bytes=1000))
    assert _defects(parsed, "max_html_bytes")
    assert "END" not in parsed.full_text
    assert parsed.html is not None
    assert len(parsed.html) < 1100


def test_html_nested_too_deep_to_sanitise_keeps_its_text() -> None:
    raw = HEAD + b"Content-Type: text/html\r\n\r\n" + b"<div>" * 20_000 + b"deep text"
    parsed = parsers.parse(raw)
    assert parsed.html is None
    assert "HTML nested too deep to sanitise in time; only its text was kept" in parsed.defects
    assert parsed.full_text == "deep text"


# ---------------------------------------------------------------- big mails

PATTERN = bytes(range(256)) * 4096  # 1 MiB that compresses nothing away


def _big_mail(parts: list[bytes]) -> bytes:
    body = b"".join(b"--big\r\n" + part + b"\r\n" for part in parts)
    return HEAD + b'Content-Type: multipart/mixed; boundary="big"\r\n\r\n' + body + b"--big--\r\n"


def _base64(name: str, data: bytes, content_type: str = "application/octet-stream") -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    return (
        f'Content-Type: {content_type}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    ).encode() + encoded


def test_a_25_mb_mail_parses_in_under_five_times_its_size() -> None:
    data = PATTERN * 18 + PATTERN[:123_457]  # ~18 MiB: 25 MB of base64 on the wire
    raw = _big_mail([b"Content-Type: text/plain\r\n\r\nsee attached", _base64("big.bin", data)])
    assert len(raw) > 25_000_000
    tracemalloc.start()
    try:
        parsed = parsers.parse(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * len(raw)
    assert [(a.filename, a.size) for a in parsed.attachments] == [("big.bin", len(data))]
    assert parsed.full_text == "see attached"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 65_535, 65_536, 200_001, 1_000_002])
def test_big_and_small_attachment_sizes_are_exact(size: int) -> None:
    data = (PATTERN * 2)[:size]
    qp = binascii.b2a_qp(data[:200_000], istext=False)
    raw = _big_mail(
        [
            b"Content-Type: text/plain\r\n\r\nsizes",
            _base64("a.bin", data),
            b'Content-Type: application/octet-stream; name="q.bin"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp,
            b'Content-Type: application/octet-stream; name="r.bin"\r\n'
            b"Content-Transfer-Encoding: binary\r\n\r\n"
            + data.replace(b"\r", b"").replace(b"\n", b""),
            b"Content-Type: text/plain\r\n\r\nafter",
            # filler, so that the mail is large enough for big bodies to be cut
            b"Content-Type: text/plain\r\n\r\n" + b"filler line\r\n" * 30_000,
        ]
    )
    parsed = parsers.parse(raw)
    binary = data.replace(b"\r", b"").replace(b"\n", b"")
    assert [a.size for a in parsed.attachments] == [size, len(data[:200_000]), len(binary)]
    assert parsed.full_text.startswith("sizes\nafter\nfiller line")


def test_big_text_bodies_are_read_not_cut() -> None:
    text = b"Printer log line %d\r\n"
    body = b"".join(text % i for i in range(40_000))  # ~900 KB: over LARGE_MAIL
    raw = _big_mail([b"Content-Type: text/plain\r\n\r\n" + body])
    assert parsers.parse(raw).full_text.endswith("Printer log line 39999")


def test_big_single_part_mail_is_its_attachment() -> None:
    data = PATTERN * 2
    raw = HEAD + _base64("scan.pdf", data, "application/pdf")
    parsed = parsers.parse(raw)
    assert [(a.filename, a.size) for a in parsed.attachments] == [("scan.pdf", len(data))]


def test_big_winmail_dat_is_still_unpacked() -> None:
    winmail = tnef([("huge.bin", PATTERN, None)])
    raw = _big_mail(
        [
            b"Content-Type: text/plain\r\n\r\nsee attached",
            _base64("winmail.dat", winmail, "application/ms-tnef"),
        ]
    )
    parsed = parsers.parse(raw)
    assert [(a.filename, a.size) for a in parsed.attachments] == [("huge.bin", len(PATTERN))]


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("date", "iso"),
    [
        (b"Mon, 1 Jan 2024 10:00:00 -0000", "2024-01-01T10:00:00+00:00"),  # zone unknown: UTC
        (b"Mon, 1 Jan 2024 10:00:00 +0200", "2024-01-01T10:00:00+02:00"),
    ],
)
def test_dates_are_always_aware(date: bytes, iso: str) -> None:
    parsed = parsers.parse(HEAD + b"Date: " + date + b"\r\n\r\nhi\r\n")
    assert parsed.date == iso
    assert parsed.defects == ()


@pytest.mark.parametrize(
    "date", [b"Mon, 1 Jan 99999999999999999999 00:00:00 +0000", b"yesterday at noon"]
)
def test_a_date_past_what_datetime_holds_is_a_defect(date: bytes) -> None:
    parsed = parsers.parse(HEAD + b"Date: " + date + b"\r\n\r\nhi\r\n")
    assert parsed.date is None
    assert "unreadable Date header" in parsed.defects
