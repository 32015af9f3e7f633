"""The MIME tree: attachments on the real-world corpus, and hand-built mails for each
structure the corpus lacks (RFC 2231 names, cid images, forwarded mail, TNEF, S/MIME)."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]  # ships no type hints

import parsers
from parsers.tnef import read_tnef
from tests.support.corpus import corpus_mails

# Where the corpus expectation is wrong, what upstream's own test expects (mikel/mail
# spec/mail/attachments_list_spec.rb); the .json was made with policy.default, which
# reads an unquoted name with spaces, and an unquoted RFC 2047 word, differently
# from every mail client.
CORPUS_CORRECTIONS = {
    "mikel-mail/attachment_emails__attachment_with_unquoted_name.eml": [
        ("This is a test.txt", "text/plain")
    ],
    "mikel-mail/attachment_emails__attachment_with_base64_encoded_name.eml": [
        ("This is a test.pdf", "application/pdf")
    ],
}


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _expected(path: Path) -> dict[str, object]:
    return dict(json.loads(path.with_suffix(".json").read_text()))


WITH_ATTACHMENTS = [p for p in corpus_mails() if "attachments" in _expected(p)]
WITH_DEFECTS = [p for p in corpus_mails() if "expected_defects" in _expected(p)]


@pytest.mark.parametrize("path", WITH_ATTACHMENTS, ids=_name)
def test_corpus_attachments(path: Path) -> None:
    expected = _expected(path)["attachments"]
    assert isinstance(expected, list)
    want = CORPUS_CORRECTIONS.get(
        _name(path), [(a["filename"], a["content_type"]) for a in expected]
    )
    parsed = parsers.parse(path.read_bytes())
    # The corpus lists non-multipart parts; a forwarded mail (message/*) is a
    # container there and an attachment here, so it is left out of the comparison.
    got = [
        (a.filename, a.content_type)
        for a in parsed.attachments
        if a.filename is not None and not a.content_type.startswith("message/")
    ]
    assert got == want


def test_the_corpus_corrections_still_apply() -> None:
    # If the corpus is fixed, the corrections must go.
    for name, corrected in CORPUS_CORRECTIONS.items():
        path = next((p for p in WITH_ATTACHMENTS if _name(p) == name), None)
        if path is None:
            continue
        expected = _expected(path)["attachments"]
        assert isinstance(expected, list)
        assert [(a["filename"], a["content_type"]) for a in expected] != corrected


@pytest.mark.parametrize("path", WITH_DEFECTS, ids=_name)
def test_corpus_expected_defects(path: Path) -> None:
    parsed = parsers.parse(path.read_bytes())
    expected = _expected(path)["expected_defects"]
    assert isinstance(expected, list)
    assert set(expected) <= set(parsed.defects)


def test_the_corpus_has_mails_to_check() -> None:
    if not corpus_mails():
        pytest.skip("no corpus here")
    assert len(WITH_ATTACHMENTS) > 400
    assert WITH_DEFECTS


# ---------------------------------------------------------------- hand-built mails


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


def _tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", checksum)


def _mapi_string(kind: int, ident: int, value: bytes) -> bytes:
    padded = value + b"\x00" * (-len(value) % 4)
    return struct.pack("<HHII", kind, ident, 1, len(value)) + padded


def _tnef(files: list[tuple[str, bytes, str | None]]) -> bytes:
    """A winmail.dat as MS-OXTNEF lays it out: attributes of level 1 (message) and 2
    (attachment), each attachment opened by attAttachRendData."""
    out = struct.pack("<IH", 0x223E9F78, 0x0102)
    out += _tnef_attribute(1, 0x00069006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _tnef_attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += _tnef_attribute(1, 0x00018004, b"Re: printer\x00")  # attSubject
    for name, data, mime in files:
        out += _tnef_attribute(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        short = name.encode("cp1252", "replace")[:12] + b"\x00"
        out += _tnef_attribute(2, 0x00018010, short)  # attAttachTitle (8.3 name)
        out += _tnef_attribute(2, 0x0006800F, data)  # attAttachData
        props = [_mapi_string(0x001F, 0x3707, (name + "\x00").encode("utf-16-le"))]
        if mime is not None:
            props.append(_mapi_string(0x001E, 0x370E, mime.encode() + b"\x00"))
        props.insert(0, struct.pack("<HHI", 0x0003, 0x3705, 1))  # PR_ATTACH_METHOD, a long
        out += _tnef_attribute(2, 0x00069005, struct.pack("<I", len(props)) + b"".join(props))
    return out


WINMAIL = _tnef(
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
    many = _tnef([(f"f{i}.txt", b"x", None) for i in range(30)])
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


def _signed_data(content: bytes) -> bytes:
    return bytes(
        cms.ContentInfo(
            {
                "content_type": "signed_data",
                "content": cms.SignedData(
                    {
                        "version": "v1",
                        "digest_algorithms": [],
                        "encap_content_info": {"content_type": "data", "content": content},
                        "signer_infos": [],
                    }
                ),
            }
        ).dump()
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


@pytest.mark.parametrize("encode", [_signed_data, _ber_signed_data])
def test_opaque_signed_mail_keeps_its_text(encode) -> None:
    raw = b"From: user@example.org\r\nSubject: signed\r\nMIME-Version: 1.0\r\n" + _base64_part(
        P7M, encode(SIGNED_ENTITY)
    )
    parsed = parsers.parse(raw)
    assert parsed.full_text == "Signed request: reset my token."
    assert [a.filename for a in parsed.attachments] == ["form.pdf"]


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
