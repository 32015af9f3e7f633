"""Signed ticket tags: in reply addresses, bounce addresses and our Message-IDs.

A reply that carries `helpdesk+INC-1042.k3bq7x2m9d4f6h8j@example.org`, or answers
a Message-ID `<INC-1042.k3bq….a1b2@example.org>`, names its ticket with a tag
only this installation can make: an HMAC of the ref under the installation's
secret (kept in the database, created by the migration). So these are strong
thread keys, trusted whoever sends them, and a Message-ID we wrote still finds
its ticket when the outbox row that held it is gone.

Kept outside the engine: notifiers write these tags, the engine reads them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_MAC_CHARS = 16  # base32: 80 bits
_TAGGED = re.compile(r"([A-Z][A-Z0-9]{1,15}-\d{1,12})\.([a-z2-7]{16})", re.IGNORECASE)


class Signer:
    """Makes and checks signed ticket tags; one per process, built from the secret."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, purpose: str, ref: str) -> str:
        digest = hmac.new(self._key, f"{purpose}:{ref.upper()}".encode(), hashlib.sha256)
        return base64.b32encode(digest.digest()).decode()[:_MAC_CHARS].lower()

    def tag(self, ref: str) -> str:
        """`INC-1042.<mac>`: what goes after the + of a reply address, and into our Message-IDs."""
        return f"{ref}.{self._mac('ticket', ref)}"

    def ref_of(self, text: str) -> str | None:
        """The ref a signed tag at the start of `text` names, if its signature holds.

        `text` is a sub-address (`INC-1042.<mac>`) or the left part of a
        Message-ID (`INC-1042.<mac>.<random>`); case-insensitive, as some relays
        lower-case local parts.
        """
        match = _TAGGED.match(text)
        if match is None:
            return None
        ref, mac = match.group(1).upper(), match.group(2).lower()
        if len(text) > match.end() and text[match.end()] not in ".@":
            return None
        return ref if hmac.compare_digest(mac, self._mac("ticket", ref)) else None

    def ref_of_message_id(self, message_id: str) -> str | None:
        """The ref a Message-ID we wrote carries (`<INC-1042.<mac>.<random>@domain>`)."""
        return self.ref_of(message_id.strip().removeprefix("<"))

    def loop_marker(self, domain: str) -> str:
        """This installation's loop marker: the domain and a short id only we can know."""
        return f"{domain} {self._mac('loop', domain)[:10]}"


def sub_address(address: str, tag: str) -> str:
    """`helpdesk@example.org` with `tag` as sub-address: `helpdesk+TAG@example.org`."""
    local, _, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}+{tag}@{domain}"
