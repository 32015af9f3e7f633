"""Failed recipients from the human-readable report of a non-standard bounce.

Delivery software that does not write RFC 3464 (qmail, Postfix before 2.0, Exim,
sendmail v5, Exchange 5.5, Domino, GroupWise, Yahoo, AOL, IMail, MDaemon...)
still writes its report the same way: a few sentences, the failed addresses,
then the returned message. So rather than one parser per MTA we read the report
up to where the returned message starts, and take the addresses it presents as
failed:

- an address opening its own line ("<a@b>:", "a@b", "* a@b", "a@b - no such user"),
- any address in the few lines after an introduction ("did not reach the
  following recipient(s):", "The following addresses had permanent fatal errors"),
- any address on a line that says what went wrong ("User unknown", "quota",
  "Intended recipient:", "RCPT TO:<a@b>").

"(expanded from: a@b)" and "(generated from a@b)" replace the address before
them by the original one, as Original-Recipient does in a DSN. The bounce's own
addresses (From, To, Return-Path...), role addresses (postmaster, mailer-daemon)
and the returned message's header lines are never recipients. AOL and phquery
name bare mailboxes: those get the domain the returned message was addressed to.
"""

from __future__ import annotations

import bisect
import itertools
import re
from email.message import Message

from parsers.classify_markers import Phrases
from parsers.classify_parts import HEADER_ERRORS, leaf_text

ADDRESS = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9_][\w.%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_REPORT_BYTES = 16 * 1024  # reports are short; the returned message may be huge
_HEADER_CHARS = 4096  # of a header value read for the bounce's own addresses
_INTRO_REACH = 3  # lines after an introduction that list its addresses
_ROLE_LOCALS = frozenset(
    {"postmaster", "mailer-daemon", "mailerdaemon", "abuse", "hostmaster", "webmaster"}
)
_OWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Return-Path", "Sender", "Errors-To")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# Where the report ends and the returned message (or its summary) begins
# (searched in the lowercased report).
_RETURNED = Phrases(
    r"^(?:received|return-path|message-id|delivered-to|dkim-signature|mime-version"
    r"|arc-[\w-]+|authentication-results|x-[\w-]+):",
    r"below this line is a copy",
    r"copy of (?:the |your )(?:original )?message(?:[,.]| is| follows| below| attached"
    r"| including)",
    r"original message (?:follows|as received|is as follows|below|attached)",
    r"original message follow",
    r"message header follows",
    r"returned mail follows",
    r"message text follows",
    r"unsent message below",
    r"start of returned message",
    r"header of the (?:original|source) (?:message|mail)",
    r"included is a copy",
    r"summary of the undelivered message",
    r"your message reads",
    r"original mail as follows",
    r"^[\s*=-]*original message[\s*=:-]*$",
    r"^old message:",
    r"mensaje original",
    r"attachment is a copy",
    r"the first \d+ lines of your",
    r"first part of the message",
    flags=re.MULTILINE,
)
# A returned message's header lines, and summaries of it ("Subject: ...", "To: ...").
_SUMMARY_LINE = re.compile(
    r"^\s*(?:from|to|cc|bcc|subject|date|sent|reply-to|sender|return-path|mail from"
    r"|envelope-from|message-id|in-reply-to|references|errors-to)\s*:"
)
# Sentences that introduce a list of failed addresses (searched in lowercase lines).
_INTRO = Phrases(
    r"following (?:e-?mail )?(?:address|recipient|user|destination|mailbox)",
    r"address(?:es|\(es\))? failed",
    r"failed addresses",
    r"recipients? failed",
    r"failed:\s*$",
    r"not (?:yet )?(?:been )?delivered",
    r"not deliver(?:ed)? to",
    r"did not reach",
    r"could not be delivered",
    r"couldn't be delivered",
    r"not able to deliver",
    r"unable to deliver",
    r"message to:",
    r"to the following",
    r"pas pu [eê]tre d[ée]livr[ée]",
    r"could not deliver",
    flags=re.MULTILINE,
)
# Words of a line that says what went wrong with the address on it.
_FAILURE = Phrases(
    "unknown",
    "invalid",
    "quota",
    "full",
    "disabled",
    "discontinued",
    "exceed",
    "failed",
    "failure",
    "reject",
    "denied",
    "undeliverable",
    "unable",
    "cannot",
    "delayed",
    "postponed",
    "refused",
    "blocked",
    "unavailable",
    "recipient",
    "addressed",
    "error-for",
    "userid",
    "wrong",
    r"not (?:found|listed|valid|known|accepting|delivered|yet)",
    r"no (?:such|mailbox|longer)",
    r"could not",
    r"couldn't",
    r"can't",
    r"did not",
    r"doesn't",
    r"does not",
    r"rcpt to",
    r"error (?:delivering|sending|transferring)",
    r"delivering your (?:mail|message) to",
)
_ORIGINAL = re.compile(
    r"\((?:expanded|(?:ultimately )?generated|originally addressed) (?:from|to):?\s*"
    r"<?(" + ADDRESS.pattern + ")",
    re.IGNORECASE,
)
# "not accepting mail from a@b", "554 ... from a@b via localhost": a sender, not a recipient.
_SENDER_BEFORE = re.compile(r"\bfrom:?\s*<?$", re.IGNORECASE)
_LEADING = r"^[\s>*•·\-\"'<(\[]*"
_ADDRESS_FIRST = re.compile(
    _LEADING + r"(" + ADDRESS.pattern + r")[>\"')\]]*"
    r"(?:\s*$|\s*:|\s*\.\.\.|\s+-\s|\s+\(|\s+on\s)"
)
# An indented mailbox name alone on its line, or before a gap and its reason.
_BARE_NAME = re.compile(r"^[ \t]+([A-Za-z0-9][\w.+-]*)(?:[ \t]{2,}\S.*|\s*)$")


def report_recipients(message: Message) -> tuple[str, ...]:
    """The failed recipients a plain-text bounce report names, in order."""
    text = leaf_text(message, first=True, limit=_REPORT_BYTES)
    if not text.strip():
        return ()
    report = _Report(text)
    own = _own_addresses(message)
    return tuple(_candidates(report, own)) or _bare_names(report, text, message)


class _Report:
    """The report's lines up to the returned message, and which of them introduce
    a list of addresses or say what failed. Each phrase table runs once over the
    lowercased report, not once per line."""

    __slots__ = ("failure", "intro", "lines", "lowered")

    def __init__(self, text: str) -> None:
        lowered = text.lower()
        if len(lowered) != len(text):  # "İ" and kin grow when lowercased
            lowered = text.translate(_ASCII_LOWER)
        end = _RETURNED.earliest(lowered)
        lines = text.split("\n")
        starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
        count = len(lines) if end is None else bisect.bisect_right(starts, end) - 1
        self.lines = [line.rstrip("\r") for line in lines[:count]]
        self.lowered = lowered[: starts[count]]
        self.intro = _lines_of(_INTRO.starts(self.lowered), starts)
        self.failure = _lines_of(_FAILURE.starts(self.lowered), starts)


def _lines_of(positions: list[int], starts: list[int]) -> frozenset[int]:
    return frozenset(bisect.bisect_right(starts, position) - 1 for position in positions)


def _own_addresses(message: Message) -> frozenset[str]:
    """The bounce's own addresses: its sender and the original sender it goes back to."""
    own: set[str] = set()
    for name in _OWN_HEADERS:
        try:
            values = message.get_all(name) or []
        except HEADER_ERRORS:
            continue
        own.update(
            match.group(0).lower()
            for value in values[:8]
            for match in ADDRESS.finditer(str(value)[:_HEADER_CHARS])
        )
    return frozenset(own)


def _candidates(report: _Report, own: frozenset[str]) -> list[str]:
    found: list[str] = []
    reach = 0
    for index, line in enumerate(report.lines):
        if not line.strip():
            continue
        if _SUMMARY_LINE.match(line.lower()):
            reach = 0
            continue
        original = _ORIGINAL.search(line) if "(" in line else None
        if original and found and line.lstrip().startswith("("):
            found[-1] = original.group(1)  # "(expanded from: ...)" under its address
        elif original:
            found.append(original.group(1))
        if "@" in line and (reach or index in report.failure or _ADDRESS_FIRST.match(line)):
            found.extend(
                match.group(0)
                for match in ADDRESS.finditer(line)
                if not (original and match.start() >= original.start())
                and not _SENDER_BEFORE.search(line, 0, match.start())
            )
        reach = _INTRO_REACH if index in report.intro else max(reach - 1, 0)
    return [address for address in found if _is_recipient(address, own)]


def _is_recipient(address: str, own: frozenset[str]) -> bool:
    lowered = address.lower()
    return lowered not in own and lowered.partition("@")[0] not in _ROLE_LOCALS


def _bare_names(report: _Report, text: str, message: Message) -> tuple[str, ...]:
    """Mailboxes named without a domain (AOL, phquery) under an introduction."""
    names: list[str] = []
    reach = 0
    for index, line in enumerate(report.lines):
        if not line.strip():
            continue
        bare = _BARE_NAME.match(line) if reach else None
        if bare:
            names.append(bare.group(1))
        reach = _INTRO_REACH if index in report.intro else max(reach - 1, 0)
    domain = _sender_domain(message)
    return tuple(_qualified(name, text) or f"{name}@{domain}" for name in names if domain)


def _qualified(name: str, report: str) -> str | None:
    """The address the returned message was sent to, if its mailbox is `name`."""
    match = re.search(rf"(?<![\w.+-]){re.escape(name)}@[\w.-]+\w", report, re.IGNORECASE)
    return match.group(0) if match else None


def _sender_domain(message: Message) -> str:
    try:
        value = message.get("From")
    except HEADER_ERRORS:
        return ""
    match = ADDRESS.search(str(value or "")[:_HEADER_CHARS])
    return match.group(0).partition("@")[2] if match else ""
