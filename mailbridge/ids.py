"""Identifiers we mint: Message-IDs and tokens, injected so tests can predict them."""

from __future__ import annotations

import secrets
from typing import Protocol


class IdSource(Protocol):
    def token(self) -> str:
        """Return an unguessable URL- and address-safe token."""
        ...

    def message_id(self, domain: str, tag: str = "") -> str:
        """Return a fresh Message-ID in angle brackets, optionally carrying a tag."""
        ...


class SecretsIds:
    def token(self) -> str:
        return secrets.token_hex(12)

    def message_id(self, domain: str, tag: str = "") -> str:
        left = f"{tag}.{self.token()}" if tag else self.token()
        return f"<{left}@{domain}>"
