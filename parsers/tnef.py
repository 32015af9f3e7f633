"""The files inside an Outlook `winmail.dat` (TNEF, MS-OXTNEF), listed without copying them.

Our own reader rather than tnefparse: we need each file's name, type and size,
which the attribute headers give without touching the data, while tnefparse
copies every attachment into a bytes object (and is LGPL-3.0, last released
in 2021, and logs through the logging module, which `parsers` may not use).
The format is a flat list of attributes (level, id, length, data, checksum);
an attachment starts at attAttachRendData; its name is the MAPI long file name
in attAttachment, else attAttachTitle; its size is the length of attAttachData
or of the MAPI attachment data. Checked against tnefparse's own sample files (Outlook 97 to 2016,
long, unicode and umlaut names, MAPI data objects) while it was written.

Every read is bounds-checked; a truncated or corrupt stream ends the listing
with what was found so far and a defect, never an exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from parsers.text import one_line

SIGNATURE = 0x223E9F78

_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACH_TITLE = 0x8010
_ATT_ATTACH_REND_DATA = 0x9002
_ATT_ATTACHMENT = 0x9005  # MAPI properties of the attachment
_ATT_OEM_CODEPAGE = 0x9007
_LEVEL_ATTACHMENT = 2

_PR_DISPLAY_NAME = 0x3001
_PR_ATTACH_DATA = 0x3701
_PR_ATTACH_FILENAME = 0x3704
_PR_ATTACH_LONG_FILENAME = 0x3707
_PR_ATTACH_MIME_TAG = 0x370E
_PR_ATTACH_CONTENT_ID = 0x3712

# MAPI property types: fixed sizes on the wire (values are padded to 4 bytes).
_FIXED = {0x0001: 4, 0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8}
_FIXED |= {0x000A: 4, 0x000B: 4, 0x0014: 8, 0x0040: 8, 0x0048: 16}
_PT_OBJECT, _PT_STRING8, _PT_UNICODE, _PT_BINARY = 0x000D, 0x001E, 0x001F, 0x0102
_VARIABLE = frozenset({_PT_OBJECT, _PT_STRING8, _PT_UNICODE, _PT_BINARY, 0x00FB, 0x00FD})
_MULTIPLE = 0x1000
_IID_SIZE = 16  # a PT_OBJECT value starts with the interface id of the object

# Old Outlook sends no MIME type; a file's extension is all there is.
_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "txt": "text/plain",
    "csv": "text/csv",
    "htm": "text/html",
    "html": "text/html",
    "rtf": "application/rtf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "zip": "application/zip",
    "eml": "message/rfc822",
    "msg": "application/vnd.ms-outlook",
    "ics": "text/calendar",
    "vcf": "text/vcard",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
}


@dataclass(frozen=True, slots=True)
class TnefFile:
    filename: str | None
    content_type: str
    size: int
    content_id: str | None


@dataclass(slots=True)
class _Building:
    title: str | None = None
    long_name: str | None = None
    short_name: str | None = None
    display_name: str | None = None
    mime: str | None = None
    content_id: str | None = None
    size: int = 0


class _Truncated(Exception):
    """The stream ends inside a structure it announced."""


def read_tnef(data: bytes, max_files: int) -> tuple[list[TnefFile], str | None]:
    """The attached files, in order, and a defect if the stream was broken or too long."""
    view = memoryview(data)
    if len(view) < 6 or struct.unpack_from("<I", view, 0)[0] != SIGNATURE:
        return [], "winmail.dat is not TNEF (bad signature)"
    files: list[_Building] = []
    codepage = "cp1252"
    position = 6
    defect: str | None = None
    try:
        while position + 9 <= len(view):
            level = view[position]
            attribute = struct.unpack_from("<I", view, position + 1)[0] & 0xFFFF
            length = struct.unpack_from("<I", view, position + 5)[0]
            start = _check(view, position + 9, length + 2)
            position = start + length + 2  # data, then a 16-bit checksum we do not need
            if attribute == _ATT_OEM_CODEPAGE and length >= 4:
                codepage = f"cp{struct.unpack_from('<I', view, start)[0]}"
            if level != _LEVEL_ATTACHMENT:
                continue
            if attribute == _ATT_ATTACH_REND_DATA:
                if len(files) >= max_files:
                    defect = f"max_parts: winmail.dat holds more than {max_files} files"
                    break
                files.append(_Building())
            elif not files:
                continue
            elif attribute == _ATT_ATTACH_TITLE:
                files[-1].title = _string8(view[start : start + length], codepage)
            elif attribute == _ATT_ATTACH_DATA:
                files[-1].size = length
            elif attribute == _ATT_ATTACHMENT:
                try:
                    _read_properties(view[start : start + length], files[-1], codepage)
                except _Truncated:  # this attribute is corrupt; the stream around it is not
                    defect = "winmail.dat has unreadable attachment properties"
    except _Truncated:
        defect = "winmail.dat is truncated or corrupt; later files may be missing"
    return [_finish(f) for f in files], defect


def _finish(found: _Building) -> TnefFile:
    """The file as we keep it: every string one line, without control or format
    characters (a CR/LF in a MIME tag, a bidi override in a name)."""
    name = one_line(found.long_name or found.title or found.short_name or found.display_name or "")
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    content_type = one_line(found.mime or "").lower() or _TYPES.get(
        extension, "application/octet-stream"
    )
    content_id = one_line(found.content_id or "").strip("<> ") or None
    return TnefFile(name or None, content_type, found.size, content_id)


def _read_properties(view: memoryview, found: _Building, codepage: str) -> None:
    """MAPI properties (MS-OXTNEF 2.1.3.4): read until done or until a type we cannot size."""
    count, position = _u32(view, 0), 4
    for _ in range(min(count, 10_000)):
        kind, ident = struct.unpack_from("<HH", view, _check(view, position, 4))
        position += 4
        if ident >= 0x8000:  # named property: GUID, then a number or a name
            position += 16
            if _u32(view, position) == 1:
                position += 8 + _pad(_u32(view, position + 4))
            else:
                position += 8
        base = kind & ~_MULTIPLE
        values = 1
        if kind & _MULTIPLE or base in _VARIABLE:
            values, position = _u32(view, position), position + 4
        for _ in range(min(values, 10_000)):
            if base in _FIXED:
                position += _FIXED[base]
                continue
            if base not in _VARIABLE:
                return  # unknown type: its size is unknown, stop here
            size = _u32(view, position)
            value = view[_check(view, position + 4, size) : position + 4 + size]
            position += 4 + _pad(size)
            _take(found, ident, base, value, codepage)


def _take(found: _Building, ident: int, kind: int, value: memoryview, codepage: str) -> None:
    if ident == _PR_ATTACH_DATA:
        found.size = max(len(value) - (_IID_SIZE if kind == _PT_OBJECT else 0), 0)
        return
    if kind not in (_PT_STRING8, _PT_UNICODE):
        return
    text = _unicode(value) if kind == _PT_UNICODE else _string8(value, codepage)
    if ident == _PR_ATTACH_LONG_FILENAME:
        found.long_name = text or found.long_name
    elif ident == _PR_ATTACH_FILENAME:
        found.short_name = text or found.short_name
    elif ident == _PR_DISPLAY_NAME:
        found.display_name = text or found.display_name
    elif ident == _PR_ATTACH_MIME_TAG:
        found.mime = text
    elif ident == _PR_ATTACH_CONTENT_ID:
        found.content_id = text.strip("<> ") or None


def _string8(value: memoryview, codepage: str) -> str:
    raw = bytes(value).split(b"\x00", 1)[0]
    try:
        return raw.decode(codepage)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("cp1252", errors="replace")


def _unicode(value: memoryview) -> str:
    return bytes(value).decode("utf-16-le", errors="replace").split("\x00", 1)[0]


def _u32(view: memoryview, position: int) -> int:
    return int(struct.unpack_from("<I", view, _check(view, position, 4))[0])


def _check(view: memoryview, position: int, size: int) -> int:
    if position < 0 or position + size > len(view):
        raise _Truncated
    return position


def _pad(size: int) -> int:
    return (size + 3) & ~3
