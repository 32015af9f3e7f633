"""Building the binary parts of test mails: winmail.dat (TNEF) and S/MIME signed data."""

from __future__ import annotations

import struct

from asn1crypto import cms  # type: ignore[import-untyped]  # ships no type hints


def tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", checksum)


def mapi_string(kind: int, ident: int, value: bytes) -> bytes:
    padded = value + b"\x00" * (-len(value) % 4)
    return struct.pack("<HHII", kind, ident, 1, len(value)) + padded


def tnef(files: list[tuple[str, bytes, str | None]]) -> bytes:
    """A winmail.dat as MS-OXTNEF lays it out: attributes of level 1 (message) and 2
    (attachment), each attachment opened by attAttachRendData."""
    out = struct.pack("<IH", 0x223E9F78, 0x0102)
    out += tnef_attribute(1, 0x00069006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += tnef_attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += tnef_attribute(1, 0x00018004, b"Re: printer\x00")  # attSubject
    for name, data, mime in files:
        out += tnef_attribute(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        short = name.encode("cp1252", "replace")[:12] + b"\x00"
        out += tnef_attribute(2, 0x00018010, short)  # attAttachTitle (8.3 name)
        out += tnef_attribute(2, 0x0006800F, data)  # attAttachData
        props = [mapi_string(0x001F, 0x3707, (name + "\x00").encode("utf-16-le"))]
        if mime is not None:
            props.append(mapi_string(0x001E, 0x370E, mime.encode() + b"\x00"))
        props.insert(0, struct.pack("<HHI", 0x0003, 0x3705, 1))  # PR_ATTACH_METHOD, a long
        out += tnef_attribute(2, 0x00069005, struct.pack("<I", len(props)) + b"".join(props))
    return out


def signed_data(content: bytes) -> bytes:
    """DER ContentInfo of a SignedData carrying `content`, with no signers."""
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
