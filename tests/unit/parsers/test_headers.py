"""Header values read in linear time, without crashing, and kept as clean single lines."""

from __future__ import annotations

import parsers
from parsers.headers import decode_text

HEAD = (
    b"From: Jane Doe <jane@example.org>\r\nTo: help@example.com\r\nMessage-ID: <h@example.org>\r\n"
)


def _parse(*headers: bytes, body: bytes = b"body\r\n") -> parsers.ParsedMail:
    return parsers.parse(HEAD + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


# A quadratic regression makes these take minutes (97 s and 2.5 s before the fix).


def test_unclosed_encoded_words_are_read_in_linear_time() -> None:
    parsed = _parse(b"Subject: " + b"=?a?q?x" * 35000)
    assert parsed.subject.startswith("=?a?q?x=?a?q?x")
    assert len(parsed.subject) <= 8192


def test_thousands_of_adjacent_encoded_words_are_read_in_linear_time() -> None:
    parsed = _parse(b"Subject: " + b"=?utf-8?q?a?= " * 18000)
    assert parsed.subject.startswith("a" * 500)  # the words are joined, their spaces dropped


def test_adjacent_encoded_words_still_join_without_the_space_between() -> None:
    value = "Re: =?utf-8?q?caf=C3?= =?utf-8?q?=A9?= au lait =?utf-8?q?b?= =?utf-8?q?c?="
    assert decode_text(value) == "Re: café au lait bc"


# ---------------------------------------------------------------- nested comments


def test_nested_comments_in_cc_name_nobody_instead_of_quarantining_the_mail() -> None:
    parsed = _parse(b"Cc: " + b"(" * 1000, b"Subject: help")
    assert parsed.cc == ()
    assert parsed.sender == "jane@example.org"


def test_nested_comments_in_one_cc_header_keep_the_others() -> None:
    parsed = _parse(b"Cc: " + b"(" * 1000, b"Cc: Bob <bob@example.org>", b"Subject: help")
    assert parsed.cc == ("bob@example.org",)


def test_nested_comments_in_from_are_no_usable_from_address() -> None:
    raw = b"From: " + b"(" * 1000 + b"\r\nSubject: help\r\n\r\nbody\r\n"
    parsed = parsers.parse(raw)
    assert (parsed.sender, parsed.sender_name) == (None, None)
    assert "no usable From address" in parsed.defects


# ---------------------------------------------------------------- control characters


def test_decoded_subject_has_no_control_or_format_characters() -> None:
    parsed = _parse(b"Subject: =?utf-8?q?evil=E2=80=AEfdp=00=0D=0A.exe=1B=07?= now")
    assert parsed.subject == "evilfdp .exe now"


def test_decoded_file_name_has_no_control_or_format_characters() -> None:
    body = (
        b"--b\r\nContent-Type: application/octet-stream;"
        b' name="=?utf-8?q?evil=E2=80=AEfdp.exe=1B=07?="\r\n\r\nxx\r\n--b--\r\n'
    )
    parsed = _parse(b"Subject: file", b"Content-Type: multipart/mixed; boundary=b", body=body)
    assert [a.filename for a in parsed.attachments] == ["evilfdp.exe"]


def test_decoded_sender_name_has_no_control_or_format_characters() -> None:
    raw = b"From: =?utf-8?q?Jane=E2=80=AE_Doe=07?= <jane@example.org>\r\nSubject: x\r\n\r\nb\r\n"
    assert parsers.parse(raw).sender_name == "Jane Doe"
