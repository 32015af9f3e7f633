"""The errors mailbridge raises on purpose, sorted by who must act.

    MailbridgeError
    ├── ConfigError            the admin: a config key is wrong (exit 78)
    ├── UsageError             the caller: a command line is wrong (exit 64)
    ├── SenderError            the sender: unknown ref, bad command (reply or ignore)
    ├── TemporaryFailure       nobody yet: try again later (SMTP 451, exit 75, backoff)
    │   ├── StoreUnavailable   the database cannot be reached or is locked
    │   └── RelayUnavailable   the outbound relay refused or is down
    └── PermanentFailure       the mail itself: quarantine with the reason
        └── PolicyViolation    a mail we must not take (too big, too deep)

Anything else reaching the top is a bug: roll back, quarantine, log the traceback.
`parsers.Unparseable` belongs with the permanent failures but lives in `parsers/`,
which imports nothing from here.
"""

from __future__ import annotations


class MailbridgeError(Exception):
    """Errors we raise on purpose. Anything else reaching the top is a bug."""


class ConfigError(MailbridgeError):
    """Raised when the configuration cannot be used; the message names the key and the fix."""

    def __init__(self, key: str, problem: str, fix: str, source: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem} ({fix})")
        self.key = key
        self.source = source


class UsageError(MailbridgeError):
    """Raised when a command is called with arguments that cannot work (unknown ref...)."""


class SenderError(MailbridgeError):
    """Raised when the sender of a mail asked for something we will not do."""


class TemporaryFailure(MailbridgeError):
    """Raised when a retry later may succeed; nothing was acknowledged."""


class StoreUnavailable(TemporaryFailure):
    """Raised when the database cannot be reached, is locked, or refused a commit."""


class RelayUnavailable(TemporaryFailure):
    """Raised when the outbound SMTP relay cannot take a message right now."""


class PermanentFailure(MailbridgeError):
    """Raised when retrying cannot help: the record is quarantined with this reason."""


class PolicyViolation(PermanentFailure):
    """Raised when a mail breaks a limit we set (size, depth)."""
