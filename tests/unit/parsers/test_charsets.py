# ruff: noqa: RUF001 -- text in many scripts is what these tests are about
"""Charsets declared, undeclared and mislabelled read without mojibake: in bodies, in
RFC 2047 words, in RFC 2231 parameters and in raw 8-bit headers.

Each sample is checked to really need what it tests (a GBK character is not in
GB2312, a cp932 character is not in strict Shift_JIS...), so the test fails if the
sample stops proving its point.
"""

from __future__ import annotations

import base64

import pytest

import parsers
from parsers.charsets import decode

JAPANESE = "プリンターが動きません。至急対応をお願いします。"
RUSSIAN = (
    "Здравствуйте, после обновления в среду я не могу подключиться к VPN. "
    "Я уже дважды перезагрузил компьютер. Не могли бы вы быстро помочь?"
)


def _mail(body: bytes, content_type: str = "text/plain", headers: bytes = b"") -> bytes:
    return (
        b"From: user@example.org\r\nTo: desk@example.org\r\nSubject: test\r\n"
        b"Message-ID: <c@example.org>\r\nMIME-Version: 1.0\r\n"
        + f"Content-Type: {content_type}\r\n".encode()
        + headers
        + b"\r\n"
        + body
    )


def _text(body: bytes, content_type: str) -> str:
    return parsers.parse(_mail(body, content_type)).full_text


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        # windows-1252 punctuation and euro sign under the labels browsers read as it
        ("“Quoted” – 20 € naïve", "cp1252", "iso-8859-1"),
        ("“Quoted” – 20 € naïve", "cp1252", "us-ascii"),
        ("Grüße aus Köln", "cp1252", "ISO-8859-1"),
        # Shift_JIS from Windows carries cp932 extensions (circled digits)
        ("① 至急: プリンター故障", "cp932", "shift_jis"),
        (JAPANESE, "iso2022_jp", "iso-2022-jp"),
        # half-width katakana inside ISO-2022-JP, which strict iso2022_jp refuses
        ("ﾌﾟﾘﾝﾀｰ 故障", "iso2022_jp_ext", "ISO-2022-JP"),
        (JAPANESE, "euc_jp", "euc-jp"),
        # GBK and GB18030 characters labelled gb2312 or gbk
        ("打印机坏了，喆堃镕", "gbk", "gb2312"),
        ("打印机坏了 𠀀", "gb18030", "gbk"),
        ("印表機壞了，請盡快處理。", "big5", "big5"),
        ("嘅印表機", "big5hkscs", "big5"),
        (RUSSIAN, "koi8_r", "koi8-r"),
        ("Drukarka nie działa, proszę", "cp1250", "windows-1250"),
        ("프린터가 고장났습니다", "cp949", "ks_c_5601-1987"),
        ("똠방각하 프린터", "cp949", "euc-kr"),
        ("Hi Mom -+ ☺ ünïcode", "utf_7", "utf-7"),
    ],
)
def test_declared_and_mislabelled_charsets_decode(text: str, codec: str, label: str) -> None:
    data = text.encode(codec)
    assert _text(data, f'text/plain; charset="{label}"') == text


def test_the_samples_need_their_superset() -> None:
    # Otherwise the cases above would pass with the naive codec and prove nothing.
    for text, codec, naive in (
        ("“Quoted” – 20 €", "cp1252", "iso-8859-1"),
        ("①", "cp932", "shift_jis"),
        ("ﾌﾟﾘﾝﾀｰ", "iso2022_jp_ext", "iso2022_jp"),
        ("喆堃镕", "gbk", "gb2312"),
        ("𠀀", "gb18030", "gbk"),
        ("嘅", "big5hkscs", "big5"),
        ("똠방각하", "cp949", "euc_kr"),
    ):
        try:
            misread = text.encode(codec).decode(naive)
        except UnicodeDecodeError:
            continue
        assert misread != text, (codec, naive)


def test_undeclared_utf8_is_utf8() -> None:
    assert _text("Grüße – ok".encode(), "text/plain") == "Grüße – ok"


@pytest.mark.parametrize(("text", "codec"), [(JAPANESE, "shift_jis"), (RUSSIAN, "cp1251")])
def test_undeclared_8bit_text_is_detected(text: str, codec: str) -> None:
    parsed = parsers.parse(_mail(text.encode(codec)))
    assert parsed.full_text == text
    assert any("no charset declared" in d for d in parsed.defects)


def test_utf8_labelled_latin1_is_read_as_utf8() -> None:
    parsed = parsers.parse(_mail("Grüße – ok".encode(), "text/plain; charset=iso-8859-1"))
    assert parsed.full_text == "Grüße – ok"
    assert "labelled iso-8859-1 but is utf-8" in parsed.defects


def test_utf8_label_on_windows_1252_text_falls_back() -> None:
    text = "Der Drucker im zweiten Stock druckt nur leere Seiten. Grüße, Jörg Müller"
    parsed = parsers.parse(_mail(text.encode("cp1252"), "text/plain; charset=utf-8"))
    assert parsed.full_text == text
    assert any(d.startswith("text not valid utf-8") for d in parsed.defects)


def test_unknown_charset_label_is_a_defect_not_a_crash() -> None:
    parsed = parsers.parse(_mail("Grüße".encode(), "text/plain; charset=x-no-such-thing"))
    assert parsed.full_text == "Grüße"
    assert any("unknown charset 'x-no-such-thing'" in d for d in parsed.defects)


def test_bytes_to_bytes_codecs_are_not_charsets() -> None:
    # "base64" is a Python codec, but not a text encoding: it must not decode a body.
    parsed = parsers.parse(_mail(b"aGVsbG8=\xff", "text/plain; charset=base64"))
    assert "hello" not in parsed.full_text
    assert any("unknown charset" in d for d in parsed.defects)


def test_windows_1252_holes_decode_as_browsers_do() -> None:
    assert decode(b"a\x81b\x9dc", "iso-8859-1").text == "a\x81b\x9dc"


def test_html_meta_charset_is_used_when_the_header_has_none() -> None:
    html = '<html><head><meta charset="koi8-r"></head><body><p>{}</p></body></html>'
    parsed = parsers.parse(_mail(html.format(RUSSIAN).encode("koi8_r"), "text/html"))
    assert RUSSIAN in parsed.full_text


def _b(text: str, codec: str) -> str:
    return base64.b64encode(text.encode(codec)).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"=?gb2312?B?{_b('打印机 喆堃', 'gbk')}?=", "打印机 喆堃"),
        ("=?iso-8859-1?Q?=93quoted=94_=80?=", "“quoted” €"),
        (f"=?ks_c_5601-1987?B?{_b('프린터 고장', 'cp949')}?=", "프린터 고장"),
        ("=?utf-8*en?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        (f"=?shift_jis?B?{_b('①至急', 'cp932')}?=", "①至急"),
        (f"=?iso-2022-jp?B?{_b(JAPANESE, 'iso2022_jp')}?=", JAPANESE),
        (f"=?koi8-r?B?{_b('Принтер', 'koi8_r')}?=", "Принтер"),
        # a multi-byte character split across two encoded words
        (
            "=?utf-8?B?w6TDtg==?= =?utf-8?B?w7w=?= and =?utf-8?Q?=E2=82?= =?utf-8?Q?=AC?=",
            "äöü and €",
        ),
        ("Re:=?utf-8?Q?Caf=C3=A9?=", "Re: Café"),
        ("=?x-unknown?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("=?no-such-charset?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("=?utf-8?B?not base64!?=", "=?utf-8?B?not base64!?="),
    ],
)
def test_rfc2047_words_in_odd_charsets(header: str, expected: str) -> None:
    raw = _mail(b"body").replace(b"Subject: test", f"Subject: {header}".encode())
    assert parsers.parse(raw).subject == expected


def test_raw_8bit_header_uses_the_body_charset() -> None:
    subject = "至急: プリンター故障"
    raw = _mail(JAPANESE.encode("cp932"), "text/plain; charset=shift_jis").replace(
        b"Subject: test", b"Subject: " + subject.encode("cp932")
    )
    parsed = parsers.parse(raw)
    assert (parsed.subject, parsed.full_text) == (subject, JAPANESE)


def test_raw_8bit_header_without_a_hint_is_detected() -> None:
    subject = "Принтер не работает, помогите пожалуйста"
    raw = _mail(b"ascii body").replace(b"Subject: test", b"Subject: " + subject.encode("koi8_r"))
    assert parsers.parse(raw).subject == subject


def test_rfc2231_parameters_use_the_same_charsets() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nsee files\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=iso-8859-1''%93Preise%94%20%80.txt\r\n\r\n"
        b"x\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=gb2312''%B4%F2%D3%A1%86%B4.txt\r\n\r\n"
        b"x\r\n--b--\r\n"
    )
    names = [a.filename for a in parsers.parse(raw).attachments]
    assert names == ["“Preise” €.txt", "打印喆.txt"]


# ---------------------------------------------------------------- labels that are no charset

# Codecs Python knows that do not read text ("undefined" raises, the escape codecs
# make characters of backslashes), and labels its codec lookup refuses with ValueError.
NOT_CHARSETS = ["undefined", "unicode_escape", "raw_unicode_escape", "idna", "a\x00b"]


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_codecs_that_read_no_text_are_unknown_charsets(label: str) -> None:
    text = "Le café du réfectoire est fermé jusqu'à jeudi \\x41"
    decoded = decode(text.encode("latin-1"), label)
    assert decoded.text == text
    assert decoded.defect is not None
    assert decoded.defect.startswith("unknown charset")
    assert "\x00" not in decoded.defect


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_rfc2047_word_in_a_codec_that_reads_no_text(label: str) -> None:
    raw = _mail(b"body").replace(b"Subject: test", f"Subject: =?{label}?q?caf=E9?=".encode())
    assert parsers.parse(raw).subject == "café"


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_rfc2231_parameter_in_a_codec_that_reads_no_text(label: str) -> None:
    raw = _mail(
        b"see file",
        "multipart/mixed; boundary=b",
        headers=b"",
    ).replace(
        b"see file",
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;"
        b" filename*=" + label.encode() + b"''caf%E9.pdf\r\n\r\nx\r\n--b--\r\n",
    )
    assert [a.filename for a in parsers.parse(raw).attachments] == ["café.pdf"]


@pytest.mark.parametrize("label", ["undefined", "unicode_escape"])
def test_html_meta_charset_that_reads_no_text(label: str) -> None:
    body = f"<meta charset={label}><p>caf".encode() + b"\xe9 \\x41</p>"
    assert _text(body, "text/html") == "café \\x41"


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_body_charset_that_reads_no_text_as_the_header_hint(label: str) -> None:
    # A 7-bit body lends its label to the raw 8-bit Subject.
    raw = _mail(b"plain body", f'text/plain; charset="{label}"').replace(
        b"Subject: test", b"Subject: caf\xe9"
    )
    parsed = parsers.parse(raw)
    assert (parsed.subject, parsed.full_text) == ("café", "plain body")


# ---------------------------------------------------------------- stray NUL, no label


def test_a_stray_nul_does_not_make_8bit_text_utf16() -> None:
    for body in (b"Hello w\xe9rld\x00 this is", b"Hello w\xe9rld\x00 this is a test of the desk."):
        expected = body.decode("cp1252").replace("\x00", "")
        decoded = decode(body, None)
        assert decoded.charset not in ("utf-16", "utf-16-be", "utf-16-le")
        assert decoded.text.replace("\x00", "") == expected
        assert _text(body, "text/plain") == expected


def test_unlabelled_utf16_is_read_only_with_its_byte_order_mark() -> None:
    text = "Drucker im zweiten Stock ist kaputt, bitte schnell helfen: 20 €"
    assert decode(text.encode("utf-16"), None).text == text  # BOM first
    assert decode(text.encode("utf-32"), None).text == text
    assert decode(text.encode("utf-16-le"), None).charset != "utf-16-le"
