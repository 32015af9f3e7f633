"""Properties of the parser over arbitrary input: it returns a ParsedMail or raises
Unparseable, nothing else, and what it returns is safe to use downstream."""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from parsers.tnef import read_tnef
from tests.support.mime_builders import mapi_string, tnef_attribute

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
        "Return-Path",
        "Reply-To",
        "Content-ID",
        "X-Junk",
    ]
)
# Inputs that once crashed the parser or leaked controls into what it returns.
CRASHERS = [
    "text/plain; charset=undefined",
    'text/plain; charset="a\x00b"',
    "text/html; charset=unicode_escape",
    "text/calendar; charset=undefined",
    "=?undefined?q?=E9?=",
    "=?a\x00b?q?=E9?=",
    "=?raw_unicode_escape?q?=5Cu202e?=",
    "attachment; filename*=undefined''%E9.pdf",
    "attachment; filename*=a\x00b''%E9.pdf",
    "attachment; filename*=utf-8''evil%E2%80%AEfdp.exe%1B%07%00",
    'attachment; filename="=?utf-8?q?evil=E2=80=AEfdp.exe=1B=07?="',
    "(" * 1000,
    '"john doe"@example.com',
    "=?utf-8?q?ACME_Newsletter?= <news@x.example>",
    "<>",
    "auto-replied\x00x\r\n y",
    'multipart/report; report-type="a\x00\r\n b"',
    "<cid\x00\x1b@x>",
    "Mon, 1 Jan 99999999999 00:00:00 +0000",
    "Mon, 1 Jan 10000 00:00:00 +0000",
    "Mon, 1 Jan 9999 23:59:59 -2359",
]
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
            *CRASHERS,
        ]
    ),
)
BODIES = st.one_of(
    st.binary(max_size=400),
    st.sampled_from(
        [
            b"Hello w\xe9rld\x00 this is a short note about the printer.",
            b"<meta charset=undefined><p>caf\xe9</p>",
            b'<meta charset="unicode_escape"><p>\\u202e caf\xe9</p>',
            b"This is the mail system. Your message could not be delivered.\r\n",
        ]
    ),
)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    body = draw(BODIES)
    sep = draw(st.sampled_from([b"\r\n", b"\n"]))
    head = sep.join(f"{n}: {v}".encode("utf-8", "surrogateescape") for n, v in headers)
    return head + sep + sep + body


# Fields that are text of the body: lines are theirs, NUL never is.
MULTILINE = frozenset({"text", "full_text", "html"})


def _strings(value: object, name: str) -> Iterator[tuple[str, str]]:
    """(field name, string) for every string in a ParsedMail, attachments included."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, tuple):
        for item in value:
            yield from _strings(item, name)
    elif is_dataclass(value):
        for field in fields(value):
            yield from _strings(getattr(value, field.name), field.name)


def _check(raw: bytes) -> None:
    try:
        parsed = parsers.parse(raw)
    except parsers.Unparseable as error:
        message = str(error)
        assert message, "Unparseable must say why"
        assert not {"\x00", "\r", "\n"} & set(message)
        return
    assert isinstance(parsed, parsers.ParsedMail)
    for name, value in _strings(parsed, "ParsedMail"):
        assert "\x00" not in value, (name, value)
        if name not in MULTILINE:
            assert "\r" not in value, (name, value)
            assert "\n" not in value, (name, value)
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


@pytest.mark.parametrize("value", CRASHERS)
@pytest.mark.parametrize("header", ["From", "Cc", "Subject", "Date", "Content-Type"])
def test_each_crasher_in_each_header(header: str, value: str) -> None:
    head = f"From: a@example.org\r\nSubject: x\r\n{header}: {value}\r\n"
    _check(head.encode("utf-8", "surrogateescape") + b"\r\nbody \xe9\x00\r\n")
    _check(head.encode("utf-8", "surrogateescape") + b"\r\nbody\r\n")


def test_each_crasher_in_a_part() -> None:
    for value in CRASHERS:
        for header in ("Content-Type", "Content-Disposition", "Content-ID"):
            part = f"{header}: {value}\r\n".encode("utf-8", "surrogateescape")
            _check(
                b"From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                + part
                + b"\r\nx\xe9\r\n--b--\r\n"
            )


def test_tnef_strings_are_one_line_without_controls() -> None:
    out = struct.pack("<IH", 0x223E9F78, 0x0102)
    out += tnef_attribute(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
    props = [
        mapi_string(0x001F, 0x3707, "evil\u202efdp.exe\x1b\x00".encode("utf-16-le")),
        mapi_string(0x001E, 0x370E, b"Application/PDF\r\nX-Evil: 1\x07\x00"),
        mapi_string(0x001E, 0x3712, b"<cid\r\n\x1b@x>\x00"),
    ]
    out += tnef_attribute(2, 0x00069005, struct.pack("<I", len(props)) + b"".join(props))
    files, _defect = read_tnef(out, max_files=10)
    assert [(f.filename, f.content_type, f.content_id) for f in files] == [
        ("evilfdp.exe", "application/pdf x-evil: 1", "cid @x")
    ]


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


def test_nesting_deeper_than_the_interpreter_allows_is_a_defect() -> None:
    # ~1000 nested multiparts would make the stdlib parser recurse past Python's
    # limit; the nesting is cut before it runs, and the mail is still read.
    parsed = parsers.parse(_nested(1000))
    assert any(d.startswith("max_depth:") for d in parsed.defects)
    assert parsed.sender == "a@example.org"


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


# ---------------------------------------------------------------- generated MIME trees


@dataclass(frozen=True)
class Tree:
    """A generated MIME entity: its bytes, and what the parser must find in it."""

    raw: bytes
    depth: int  # container levels below this entity
    parts: int  # entities in it, itself included
    files: tuple[tuple[str, int], ...]  # (file name, decoded size) of named non-text leaves


CHARSETS = ["utf-8", "iso-8859-1", "us-ascii", "windows-1252", "shift_jis", "gb2312", "koi8-r"]
CHARSETS += ["iso-2022-jp", "utf-7", "x-unknown", "bogus", ""]
CHARSETS += ["undefined", "unicode_escape", "a\x00b"]  # codecs that read no text
TEXTS = st.text(st.characters(codec="utf-8"), max_size=60)  # no surrogates
LEAF_TYPES = ["application/pdf", "image/png", "application/octet-stream", "text/csv"]
NAMES = st.sampled_from(["report.pdf", "Grüße.txt", "a b.png", "=?utf-8?Q?x=C3=A9?=.bin"])


def _encode(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if encoding == "quoted-printable":
        return binascii.b2a_qp(data, istext=False).replace(b"\n", b"\r\n")
    return data.replace(b"\r", b"").replace(b"\n", b"")  # one line, so sizes are exact


@st.composite
def text_leaves(draw: st.DrawFn) -> Tree:
    subtype = draw(st.sampled_from(["plain", "html"]))
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(TEXTS)
    codec = {"": "utf-8", "x-unknown": "utf-8"}.get(charset, charset)
    if charset in ("bogus", "undefined", "unicode_escape", "a\x00b"):
        codec = "latin-1"
    data = text.encode(codec.replace("utf-7", "utf_7"), "replace")
    if subtype == "html":
        data = b"<div><p>" + data + b"</p><blockquote type=cite>old</blockquote></div>"
    encoding = draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable"]))
    label = f'; charset="{charset}"' if charset else ""
    head = f"Content-Type: text/{subtype}{label}\r\nContent-Transfer-Encoding: {encoding}\r\n"
    return Tree(head.encode() + b"\r\n" + _encode(data, encoding), 0, 1, ())


@st.composite
def file_leaves(draw: st.DrawFn) -> Tree:
    content_type = draw(st.sampled_from(LEAF_TYPES))
    data = draw(st.binary(max_size=300))
    encoding = draw(st.sampled_from(["base64", "quoted-printable", "binary"]))
    name = f"{draw(st.integers(0, 999))}-{draw(NAMES)}"
    style = draw(st.sampled_from(["quoted", "rfc2231", "rfc2047", "type-only"]))
    head = f"Content-Type: {content_type}"
    if style == "type-only":
        head += f'; name="{name}"\r\n'
    elif style == "rfc2231":
        quoted = "".join(f"%{b:02X}" for b in name.encode())
        head += f"\r\nContent-Disposition: attachment; filename*=utf-8''{quoted}\r\n"
    elif style == "rfc2047":
        encoded = base64.b64encode(name.encode()).decode()
        head += f'\r\nContent-Disposition: attachment; filename="=?utf-8?B?{encoded}?="\r\n'
    else:
        head += f'\r\nContent-Disposition: inline; filename="{name}"\r\n'
    if draw(st.booleans()):
        head += f"Content-ID: <{draw(st.integers(0, 999))}@example.org>\r\n"
    head += f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    expected_name = " ".join(name.split())
    if style in ("quoted", "type-only") and "=?" in name:
        expected_name = expected_name.replace("=?utf-8?Q?x=C3=A9?=", "xé")
    size = len(data) if encoding != "binary" else len(_encode(data, "binary"))
    return Tree(head.encode() + _encode(data, encoding), 0, 1, ((expected_name, size),))


def _containers(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    @st.composite
    def multipart(draw: st.DrawFn) -> Tree:
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "signed"]))
        parts = draw(st.lists(children, min_size=1, max_size=4))
        # Derived from the content, so that no inner boundary repeats an outer one
        # and the same draw always builds the same bytes.
        inner = b"".join(p.raw for p in parts)
        boundary = b"b%d-%d" % (len(inner), zlib.crc32(inner))
        body = b"".join(b"--" + boundary + b"\r\n" + p.raw + b"\r\n" for p in parts)
        raw = (
            f'Content-Type: multipart/{subtype}; boundary="{boundary.decode()}"\r\n\r\n'.encode()
            + b"preamble\r\n"
            + body
            + b"--"
            + boundary
            + b"--\r\n"
        )
        return Tree(
            raw,
            1 + max(p.depth for p in parts),
            1 + sum(p.parts for p in parts),
            tuple(f for p in parts for f in p.files),
        )

    @st.composite
    def forwarded(draw: st.DrawFn) -> Tree:
        inner = draw(children)
        raw = b"Content-Type: message/rfc822\r\n\r\nSubject: fwd\r\n" + inner.raw
        return Tree(raw, inner.depth + 1, inner.parts + 1, inner.files)

    return st.one_of(multipart(), forwarded())


TREES = st.recursive(st.one_of(text_leaves(), file_leaves()), _containers, max_leaves=12)
TOP = b"From: Sender <sender@example.org>\r\nTo: desk@example.org\r\nSubject: tree\r\n"
TOP += b"Message-ID: <tree@example.org>\r\nMIME-Version: 1.0\r\n"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_generated_trees_parse_completely_and_deterministically(tree: Tree) -> None:
    raw = TOP + tree.raw
    parsed = parsers.parse(raw)
    assert parsed == parsers.parse(raw)
    assert parsed.sender == "sender@example.org"
    found = {(a.filename, a.size) for a in parsed.attachments}
    assert set(tree.files) <= found
    assert not [d for d in parsed.defects if d.startswith(("max_", "MIME"))]
    json.dumps(parsed.to_json())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, st.integers(1, 4), st.integers(2, 12))
def test_generated_trees_stay_within_limits(tree: Tree, depth: int, parts: int) -> None:
    limits = parsers.Limits(max_depth=depth, max_parts=parts)
    parsed = parsers.parse(TOP + tree.raw, limits=limits)
    assert len(parsed.attachments) <= parts
    over = tree.depth > depth or tree.parts > parts  # the tree is the mail's own body
    cut = [d for d in parsed.defects if d.startswith(("max_depth:", "max_parts:"))]
    assert bool(cut) == over, (tree.depth, tree.parts, parsed.defects)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, st.data())
def test_damaged_trees_never_break_the_parser(tree: Tree, data: st.DataObject) -> None:
    raw = bytearray(TOP + tree.raw)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[position : position + data.draw(st.integers(1, 50))]
        else:
            raw[position:position] = data.draw(
                st.sampled_from([b"\r\n", b"--", b"\r\n\r\n", b"=?", b"boundary=", b"<div>"])
            )
        if not raw:
            break
    _check(bytes(raw))
    if raw:
        try:
            first = parsers.parse(bytes(raw))
        except parsers.Unparseable:
            return
        assert first == parsers.parse(bytes(raw))
