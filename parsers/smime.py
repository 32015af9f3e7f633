"""The mail inside an opaque-signed S/MIME body (application/pkcs7-mime, smime.p7m).

Clear-signed mail (multipart/signed) needs nothing: its first part is the
content. Opaque signing wraps the whole MIME entity in a CMS SignedData
structure, so without unwrapping it the mail has no text at all. asn1crypto
(MIT, pure Python, no dependencies) reads CMS including the BER
indefinite-length encoding Outlook writes, lazily and with its own nesting
limit; writing a BER reader here would be more code to get wrong than the
dependency. We do not verify the signature: the help desk needs the text, and
trust is not decided by a parser.
"""

from __future__ import annotations

from email.message import Message

PKCS7_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})


def is_pkcs7_mime(part: Message, content_type: str, filename: str | None) -> bool:
    """An S/MIME body (signed or encrypted), by type or by the conventional file name."""
    return content_type in PKCS7_TYPES or (
        content_type == "application/octet-stream"
        and (filename or "").lower().endswith((".p7m", ".p7z"))
    )


def is_encrypted(part: Message) -> bool:
    return str(part.get_param("smime-type") or "").lower() == "enveloped-data"


def signed_content(der: bytes) -> bytes | None:
    """The MIME entity a SignedData structure carries, or None if it is not one."""
    # Imported here: asn1crypto's CMS and X.509 tables cost ~5 MB in every process
    # that imports parsers (the SMTP receiver too), for a mail type few desks see.
    from asn1crypto import cms  # type: ignore[import-untyped]  # ships no type hints

    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            return None
        content = info["content"]["encap_content_info"]["content"]
        value = content.native
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError):
        # asn1crypto reports malformed input as ValueError; the rest guard the
        # lookups on structures that parsed but hold something else.
        return None
    return value if isinstance(value, bytes) and value else None
