"""The MIME tree on hand-built mails, one per structure (RFC 2231 names, cid images,
forwarded mail, TNEF, S/MIME); the corpus is checked in test_corpus.py."""

from __future__ import annotations

import base64
import struct

import pytest

import parsers
from parsers.tnef import read_tnef
from tests.support.mime_builders import signed_data, tnef


def _mixed(*parts: bytes, boundary: bytes = b"b", headers: bytes = b"") -> bytes:
    head = (
        b"From: user@example.org\r\nTo: desk@example.org\r\nSubject: parts\r\n"
        b"Message-ID: <m@example.org>\r\nMIME-Version: 1.0\r\n" + headers
    )
    if b"Content-Type:" not in headers:
        head += b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n'
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return head + b"\r\n" + body + b"--" + boundary + b"--\r\n"


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease see the attachment."


def _base64_part(headers: str, data: bytes) -> bytes:
    return (
        headers.encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
    )


def test_rfc2231_continuations_and_charset() -> None:
    raw = _mixed(
        TEXT,
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment;\r\n"
        b"  filename*0*=utf-8''Rechnung%20M%C3%A4rz;\r\n"
        b"  filename*1*=%202024%20%E2%80%93%20;\r\n"
        b'  filename*2="final.pdf"\r\n\r\n%PDF',
    )
    (attachment,) = parsers.parse(raw).attachments
    assert attachment.filename == "Rechnung März 2024 \N{EN DASH} final.pdf"


def test_rfc2047_encoded_and_raw_8bit_names() -> None:
    raw = _mixed(
        TEXT,
        b'Content-Type: application/pdf; name="=?utf-8?B?QW5nZWJvdCDDnGJlcnNpY2h0LnBkZg==?="\r\n'
        b"\r\n%PDF",
        'Content-Type: text/plain; name="Grüße.txt"\r\n\r\nhi'.encode(),
        b"Content-Type: image/png; name==?utf-8?Q?Bild_1.png?=\r\n\r\npng",
    )
    names = [a.filename for a in parsers.parse(raw).attachments]
    assert names == ["Angebot Übersicht.pdf", "Grüße.txt", "Bild 1.png"]


def test_unquoted_names_read_as_mail_clients_read_them() -> None:
    # mikel/mail's attachment_with_unquoted_name and _with_base64_encoded_name: the
    # corpus expectation (policy.default's reading) is disputed in corpus_score.py.
    raw = _mixed(
        TEXT,
        b"Content-Type: text/plain; name=This is a test.txt\r\n"
        b"Content-Disposition: attachment;\r\n\tfilename=This is a test.txt\r\n\r\nHi",
        b"Content-Type: application/pdf; name==?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?=\r\n"
        b"Content-Disposition: attachment; filename==?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?=\r\n"
        b"\r\n%PDF",
    )
    names = [(a.filename, a.content_type) for a in parsers.parse(raw).attachments]
    assert names == [
        ("This is a test.txt", "text/plain"),
        ("This is a test.pdf", "application/pdf"),
    ]


@pytest.mark.parametrize(
    "content_type",
    [
        b"text/plain; charset*=utf-8''utf-8",
        b"application/octet-stream; charset*=utf-8''utf-8; name=a.bin",
        b'application/octet-stream; charset="a\x00b"; name=a.bin',
        b"application/octet-stream; charset=undefined; name=a.bin",
    ],
)
def test_8bit_body_with_a_charset_the_stdlib_cannot_name(content_type: bytes) -> None:
    # compat32's get_payload() decodes an 8-bit body with the declared charset even
    # undecoded, and raises TypeError / ValueError / LookupError on these.
    raw = _mixed(
        b"Content-Type: " + content_type + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nh\xc3\xa9"
    )
    parsed = parsers.parse(raw)
    if content_type.startswith(b"text/"):
        assert parsed.full_text == "h\u00e9"
    else:
        assert [a.size for a in parsed.attachments] == [3]


def test_8bit_forwarded_mail_with_such_a_charset_is_measured() -> None:
    raw = _mixed(
        TEXT,
        b"Content-Type: message/rfc822\r\n\r\nSubject: fwd\r\n"
        b"Content-Type: text/plain; charset*=utf-8''utf-8\r\n\r\nh\xc3\xa9",
    )
    (forwarded,) = parsers.parse(raw).attachments
    assert forwarded.filename == "fwd.eml"
    assert forwarded.size > 0


def test_control_characters_never_reach_types_ids_and_names() -> None:
    raw = _mixed(
        TEXT,
        b"Content-Type: application/x\r\n y\r\nContent-ID: <a\x00b\x07@x>\r\n\r\nxx",
        b'Content-Type: application/x\x00y; name="in\x01voice\xe2\x80\xae.pdf"\r\n\r\nx',
    )
    first, second = parsers.parse(raw).attachments
    assert (first.content_type, first.content_id) == ("application/x y", "ab@x")
    assert (second.content_type, second.filename) == ("application/xy", "invoice.pdf")


def test_attachment_sizes_are_the_decoded_sizes() -> None:
    data = bytes(range(256)) * 40 + b"tail"
    raw = _mixed(
        TEXT,
        _base64_part('Content-Type: application/octet-stream; name="a.bin"', data),
        b'Content-Type: text/csv; name="b.csv"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
        b"\r\na=3Db,c=\r\nd",
        b'Content-Type: application/octet-stream; name="c.bin"\r\n\r\n0123456789',
    )
    sizes = [a.size for a in parsers.parse(raw).attachments]
    assert sizes == [len(data), len(b"a=b,cd"), 10]


def test_cid_images_are_inline_attachments_with_their_content_id() -> None:
    raw = _mixed(
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/html\r\n\r\n"
        b'<p>Screenshot:</p><img src="cid:shot@example.org"><img src="cid:other@example.org">\r\n'
        b"--r\r\n"
        + _base64_part("Content-Type: image/png\r\nContent-ID: <shot@example.org>", b"\x89PNG" * 10)
        + b"\r\n--r\r\n"
        # Some clients mark a shown image as an attachment; the HTML says otherwise.
        + _base64_part(
            'Content-Type: image/gif; name="o.gif"\r\nContent-ID: <other@example.org>\r\n'
            'Content-Disposition: attachment; filename="o.gif"',
            b"GIF89a",
        )
        + b"\r\n--r--",
        _base64_part('Content-Type: application/pdf; name="r.pdf"', b"%PDF"),
    )
    parsed = parsers.parse(raw)
    assert [(a.content_id, a.inline, a.filename) for a in parsed.attachments] == [
        ("shot@example.org", True, None),
        ("other@example.org", True, "o.gif"),
        (None, False, "r.pdf"),
    ]
    assert parsed.full_text == "Screenshot:"
    assert parsed.html is not None
    assert 'src="cid:shot@example.org"' in parsed.html


FORWARDED = (
    b"From: printer@example.org\r\nSubject: Toner low =?utf-8?Q?=E2=80=93?= floor 2\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="inner"\r\n\r\n'
    b"--inner\r\nContent-Type: text/plain\r\n\r\nINNER TEXT\r\n"
    b'--inner\r\nContent-Type: application/pdf; name="status.pdf"\r\n\r\n%PDF-1.4\r\n'
    b"--inner--\r\n"
)


def test_forwarded_mail_is_an_attachment_named_after_its_subject() -> None:
    raw = _mixed(
        b"Content-Type: text/plain\r\n\r\nForwarding the printer's mail.",
        b"Content-Type: message/rfc822\r\n\r\n" + FORWARDED,
    )
    parsed = parsers.parse(raw)
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("Toner low \N{EN DASH} floor 2.eml", "message/rfc822"),
        ("status.pdf", "application/pdf"),
    ]
    assert parsed.attachments[0].size >= len(FORWARDED) - 100
    assert parsed.full_text == "Forwarding the printer's mail."
    assert "INNER TEXT" not in parsed.full_text


def test_forwarded_mail_keeps_its_own_file_name() -> None:
    raw = _mixed(
        TEXT,
        b'Content-Type: message/rfc822; name="orig.eml"\r\n'
        b'Content-Disposition: attachment; filename="orig.eml"\r\n\r\n' + FORWARDED,
    )
    assert parsers.parse(raw).attachments[0].filename == "orig.eml"


# ---------------------------------------------------------------- TNEF


WINMAIL = tnef(
    [
        ("Quartalsbericht Übersicht.xlsx", b"PK\x03\x04" + b"x" * 996, None),
        ("scan.pdf", b"%PDF-1.7" + b"y" * 92, "application/pdf"),
    ]
)


def test_tnef_reader_lists_names_types_and_sizes() -> None:
    files, defect = read_tnef(WINMAIL, max_files=10)
    assert defect is None
    assert [(f.filename, f.content_type, f.size) for f in files] == [
        (
            "Quartalsbericht Übersicht.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            1000,
        ),
        ("scan.pdf", "application/pdf", 100),
    ]


def test_winmail_dat_is_unpacked_into_its_files() -> None:
    raw = _mixed(
        TEXT,
        _base64_part('Content-Type: application/ms-tnef; name="winmail.dat"', WINMAIL),
    )
    parsed = parsers.parse(raw)
    assert [a.filename for a in parsed.attachments] == [
        "Quartalsbericht Übersicht.xlsx",
        "scan.pdf",
    ]
    assert parsed.full_text == "Please see the attachment."


def test_truncated_winmail_dat_keeps_what_it_could_read() -> None:
    files, defect = read_tnef(WINMAIL[:-40], max_files=10)
    assert [f.filename for f in files][:1] == ["Quartalsbericht Übersicht.xlsx"]
    assert defect is not None


def test_winmail_dat_that_is_not_tnef_stays_an_attachment() -> None:
    raw = _mixed(TEXT, _base64_part('Content-Type: application/ms-tnef; name="winmail.dat"', b"no"))
    parsed = parsers.parse(raw)
    assert [a.filename for a in parsed.attachments] == ["winmail.dat"]
    assert "winmail.dat is not TNEF (bad signature)" in parsed.defects


def test_winmail_dat_cap_on_files() -> None:
    many = tnef([(f"f{i}.txt", b"x", None) for i in range(30)])
    files, defect = read_tnef(many, max_files=5)
    assert len(files) == 5
    assert defect is not None
    assert defect.startswith("max_parts")


# ---------------------------------------------------------------- S/MIME

SIGNED_ENTITY = (
    b'Content-Type: multipart/mixed; boundary="s"\r\n\r\n'
    b"--s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSigned request: reset my token.\r\n"
    b'--s\r\nContent-Type: application/pdf; name="form.pdf"\r\n\r\n%PDF\r\n--s--\r\n'
)


def _ber_signed_data(content: bytes) -> bytes:
    """Outlook's encoding: indefinite lengths and the content in octet-string chunks."""
    signed_data_oid = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"
    data_oid = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"
    chunks = b"".join(
        b"\x04\x82" + struct.pack(">H", len(content[i : i + 100])) + content[i : i + 100]
        for i in range(0, len(content), 100)
    )
    encap = b"\x30\x80" + data_oid + b"\xa0\x80\x24\x80" + chunks + b"\x00\x00\x00\x00\x00\x00"
    signed = b"\x30\x80\x02\x01\x01\x31\x00" + encap + b"\x31\x00\x00\x00"
    return b"\x30\x80" + signed_data_oid + b"\xa0\x80" + signed + b"\x00\x00\x00\x00"


P7M = "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m"


@pytest.mark.parametrize("encode", [signed_data, _ber_signed_data])
def test_opaque_signed_mail_keeps_its_text(encode) -> None:
    raw = b"From: user@example.org\r\nSubject: signed\r\nMIME-Version: 1.0\r\n" + _base64_part(
        P7M, encode(SIGNED_ENTITY)
    )
    parsed = parsers.parse(raw)
    assert parsed.full_text == "Signed request: reset my token."
    assert [a.filename for a in parsed.attachments] == ["form.pdf"]


def _wrapped(levels: int, entity: bytes = SIGNED_ENTITY) -> bytes:
    """`entity` opaque-signed `levels` times, as a whole mail."""
    for _ in range(levels):
        entity = _base64_part(P7M, signed_data(entity))
    return b"From: user@example.org\r\nSubject: signed\r\nMIME-Version: 1.0\r\n" + entity


def test_signed_mail_signed_again_is_read_up_to_three_levels() -> None:
    parsed = parsers.parse(_wrapped(3))
    assert parsed.full_text == "Signed request: reset my token."
    assert not any("S/MIME" in d for d in parsed.defects)


def test_nested_signed_mail_is_unwrapped_at_most_three_times() -> None:
    parsed = parsers.parse(_wrapped(6))
    assert parsed.full_text == ""
    assert [a.filename for a in parsed.attachments] == ["smime.p7m"]
    assert (
        "S/MIME signed data nested more than 3 levels deep; the inner one was kept "
        "as an attachment" in parsed.defects
    )


def test_signed_content_is_read_within_max_size() -> None:
    entity = b"Content-Type: text/plain\r\n\r\n" + b"signed line\r\n" * 1000
    raw = _wrapped(2, entity)
    parsed = parsers.parse(raw, limits=parsers.Limits(max_size=len(raw)))
    assert any(d.startswith("max_size:") for d in parsed.defects)
    assert 0 < len(parsed.full_text) < 13_000


def test_clear_signed_mail_reads_the_first_part() -> None:
    raw = _mixed(
        b"Content-Type: text/plain\r\n\r\nClear-signed text.",
        _base64_part(
            'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
            'Content-Disposition: attachment; filename="smime.p7s"',
            b"0\x80sig",
        ),
        headers=b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";'
        b' micalg=sha-256; boundary="b"\r\n',
    )
    parsed = parsers.parse(raw)
    assert parsed.full_text == "Clear-signed text."
    assert [a.filename for a in parsed.attachments] == ["smime.p7s"]


@pytest.mark.parametrize(
    ("headers", "data", "defect"),
    [
        (P7M, b"not DER at all", "S/MIME part is not readable signed data; kept as an attachment"),
        (
            "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
            b"0\x80",
            "encrypted mail (S/MIME enveloped-data): content not readable",
        ),
    ],
)
def test_unreadable_smime_stays_an_attachment(headers: str, data: bytes, defect: str) -> None:
    raw = b"From: user@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n" + _base64_part(
        headers, data
    )
    parsed = parsers.parse(raw)
    assert [a.filename for a in parsed.attachments] == ["smime.p7m"]
    assert defect in parsed.defects


def test_encrypted_multipart_is_a_defect() -> None:
    raw = _mixed(
        b"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1",
        b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n-----BEGIN PGP',
        headers=b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";'
        b' boundary="b"\r\n',
    )
    parsed = parsers.parse(raw)
    assert "encrypted mail (multipart/encrypted): content not readable" in parsed.defects
    assert [a.filename for a in parsed.attachments] == [None, "encrypted.asc"]


def test_body_parts_of_a_mixed_mail_are_joined_in_order() -> None:
    raw = _mixed(
        b"Content-Type: text/plain\r\n\r\nfirst",
        b'Content-Type: image/png; name="a.png"\r\n\r\npng',
        b"Content-Type: text/html\r\n\r\n<p>second</p>",
        b"Content-Type: text/plain\r\n\r\n-- \r\nlist footer",
    )
    parsed = parsers.parse(raw)
    assert parsed.full_text == "first\nsecond\n-- \nlist footer"


def test_a_body_labelled_with_a_codec_that_is_no_text_encoding_is_never_run_through_it() -> None:
    """compat32 decodes an 8-bit body with its declared charset even when not asked;
    unicode_escape must not run (found by hypothesis: it warns, then mangles)."""
    raw = (
        b"From: a@example.org\r\nContent-Type: text/plain; charset=unicode_escape\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\n\\\x80"
    )
    parsed = parsers.parse(raw)
    assert parsed.attachments == ()
    assert parsed.full_text.startswith("\\")
