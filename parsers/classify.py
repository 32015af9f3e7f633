"""May we answer this mail at all? Answering auto-replies, list mail or bounces is
how mail loops start (RFC 3834 section 2), so this decides before anyone replies.

Rules, first match wins, cheapest and surest first:

1. MIME structure. A multipart/report with report-type=delivery-status
   (RFC 3464/6522) is a bounce; so is a report with no report-type (old MTAs
   leave it out), and a message/delivery-status part in another container when
   a mail system sent it. Disposition notifications (read receipts, RFC 8098)
   and other reports are automatic replies.
2. Bounce signs. A MAILER-DAEMON sender (RFC 5321 section 4.5.5) or an
   X-Failed-Recipients header decides alone. Weaker signs (a bounce subject, a
   postmaster or system sender, a null sender, Auto-Submitted) only decide
   together: a bounce subject from a null or postmaster sender, or any of them
   with a delivery-report sentence at the top of the body (qmail, Postfix, Exim,
   Exchange, Domino, GroupWise...; classify_markers.BOUNCE_BODY). This runs
   before the auto-reply rules because Exim bounces say Auto-Submitted:
   auto-replied, and before the bulk rules because bounces of list mail keep
   Precedence: bulk. A forwarded bounce ("Fwd:", or the report below a forward
   or quote separator) is a person asking about it, so body signs never count there.
3. Automatic replies: Auto-Submitted other than "no" (RFC 3834), X-Autoreply /
   X-Autorespond, X-Auto-Response-Suppress as Exchange sets it on its own
   replies, Precedence: auto_reply, then the subject: an Outlook-style prefix
   ("Automatic reply:", "Abwesenheitsnotiz:", "自动回复:"...) made only of
   auto-reply words, such a word in brackets, or Lotus Notes' "... is out of the
   office". Checked before Precedence: bulk, which Gmail's vacation replies carry.
4. Bulk: Precedence bulk/list/junk, List-Id / List-Unsubscribe / List-Post and
   older list-manager headers (RFC 2369, 2919), Yahoo/Google Groups senders.
5. Body, only when the headers said nothing: an automatic reply that introduces
   itself in its first line or first sentences; then newsletters without list
   headers, which need a newsletter-like sender (noreply, a VERP return path, a
   "List" display name, no text part) and two different kinds of unsubscribe
   footer signs, and never count in a reply or forward.
6. Anything else is human.

The body is only read when a header rule points at it, and then only its first
or last few KB, so a plain human mail costs a few header look-ups. A person who
mentions "out of office" or "undeliverable" in a sentence stays human: body
patterns are whole phrases written by software about itself.

Standard library only. flufl.bounce and sisimai (Perl/Ruby/Go) do bounce
detection well but flufl.bounce is LGPL and only finds recipients, not
auto-replies or bulk mail; the rules here are small enough to own.
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import collapse_rfc2231_value

from parsers import classify_markers as markers
from parsers.classify_parts import HEADER_ERRORS, leaf_text, parts
from parsers.headers import single_address
from parsers.model import Classification
from parsers.text import one_line

Verdict = tuple[Classification, str]

_HEAD_CHARS = 2000  # where auto-replies and delivery reports say what they are
_TAIL_CHARS = 2000  # where newsletters put their unsubscribe footer
_HEADER_CHARS = 2000  # of a header value; a 1 MB header must not cost 1 MB of regex
_BRACKETS = ("[", "(", "\uff08", "\u3010")  # and their fullwidth forms
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# In order of preference for the reason given.
_LIST_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "list-post",
    "mailing-list",
    "x-mailing-list",
    "x-beenthere",
    "x-mailman-version",
)
_AUTO_REPLY_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-autoreply-from",
    "x-mail-autoreply",
)
_LIST_HEADER_SET = frozenset(_LIST_HEADERS)
_AUTO_REPLY_HEADER_SET = frozenset(_AUTO_REPLY_HEADERS)
# A stub text/plain beside the real HTML: how newsletter software builds its mail.
_NEWSLETTER_TYPES = frozenset({"multipart/alternative", "multipart/related"})
_DOMAIN = re.compile(r"@[\w.-]+")


class _Mail:
    """What the rules look at: header names read once, values read on first use.

    A plain slotted class rather than a frozen dataclass: it is built for every
    mail, and frozen dataclasses pay for each field they set."""

    __slots__ = ("_kind", "_values", "message", "names", "sender", "subject", "text")

    def __init__(self, message: Message, sender: str | None, subject: str, text: str) -> None:
        self.message = message
        self.names = _header_names(message)
        self.sender = sender
        self.subject = subject[:_HEADER_CHARS].lower()
        self.text = text
        self._values: dict[str, str] = {}
        self._kind: str | None = None

    def header(self, name: str) -> str:
        """The header's value as lowercase text; "" when absent or unreadable."""
        if name not in self.names:
            return ""
        value = self._values.get(name)
        if value is None:
            value = self._values[name] = _read_header(self.message, name)
        return value

    @property
    def sender_kind(self) -> str:
        """ "daemon" for MAILER-DAEMON and kin, "system" for other mail-system
        senders, "" for everyone else."""
        if self._kind is None:
            self._kind = _sender_kind(self.header("from"))
        return self._kind

    @property
    def forwarded(self) -> bool:
        return markers.FORWARD_PREFIX.match(self.subject) is not None


def _read_header(message: Message, name: str) -> str:
    """One line, controls dropped: reasons quote these values, and a NUL or CR/LF
    in a reason would reach the database and the headers we write."""
    try:
        value = message.get(name)
    except HEADER_ERRORS:  # a policy-based message parses on access
        return ""
    return "" if value is None else one_line(str(value)[:_HEADER_CHARS], _HEADER_CHARS).lower()


def classify(
    message: Message, *, sender: str | None, subject: str, text: str
) -> tuple[Classification, str]:
    """Return the classification and the header or rule that decided it."""
    mail = _Mail(message, sender, subject, text)
    for rule in (_report, _bounce, _auto_reply_headers, _bulk_headers, _auto_reply_body):
        verdict = rule(mail)
        if verdict is not None:
            return verdict[0], one_line(verdict[1])
    verdict = _bulk_body(mail) or (Classification.HUMAN, "no automatic or bulk marker")
    return verdict[0], one_line(verdict[1])


def _header_names(message: Message) -> frozenset[str]:
    try:
        # Not a dict: keys() is the header-name API both Message classes share.
        return frozenset(map(str.lower, message.keys()))
    except HEADER_ERRORS:
        return frozenset()


def _report(mail: _Mail) -> Verdict | None:
    """RFC 3462/6522 reports say what they are in their MIME structure."""
    message = mail.message
    if message.get_content_type() == "multipart/report":
        # The declaration decides even when the body is broken: answering a
        # delivery report is how loops start.
        kind = _report_type(message)
        if kind == "delivery-status":
            return Classification.BOUNCE, "multipart/report; report-type=delivery-status"
        if kind:
            return Classification.AUTO_REPLY, f"multipart/report; report-type={kind}"
        verdict = _report_part(message) if message.is_multipart() else None
        return verdict or (Classification.BOUNCE, "multipart/report without report-type")
    if not message.is_multipart():
        return None
    if _null_sender(mail) or _system_sender(mail):
        # Delivery software that wraps its report once more (dsn_13, dsn_15,
        # sisimai x5). From a person the same structure is a bounce forwarded
        # as an attachment, and every part of every such mail is not worth reading.
        return _report_part(message)
    return None


def _report_part(message: Message) -> Verdict | None:
    for part, attached in parts(message):
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            return Classification.BOUNCE, f"{content_type} part" + (" (attached)" * attached)
        if content_type == "message/disposition-notification" and not attached:
            return Classification.AUTO_REPLY, "message/disposition-notification part"
    return None


def _report_type(message: Message) -> str:
    value = message.get_param("report-type")
    if value is None:
        return ""
    return one_line(str(collapse_rfc2231_value(value)), _HEADER_CHARS).lower()


def _bounce(mail: _Mail) -> Verdict | None:
    from_header = mail.header("from")
    if mail.sender_kind == "daemon":
        return Classification.BOUNCE, "From: MAILER-DAEMON"
    if "x-failed-recipients" in mail.names:
        return Classification.BOUNCE, "X-Failed-Recipients"
    if mail.forwarded:
        return None
    null_sender = _null_sender(mail)
    if (
        (null_sender or "postmaster" in from_header)
        and not markers.REPLY_PREFIX.match(mail.subject)
        and markers.BOUNCE_SUBJECT.search(mail.subject)
    ):
        return Classification.BOUNCE, "bounce subject from a null or postmaster sender"
    sign = _automatic_sign(mail, null_sender)
    if sign and markers.BOUNCE_BODY.search(_report_head(mail)):
        return Classification.BOUNCE, f"delivery report text from {sign}"
    return None


def _automatic_sign(mail: _Mail, null_sender: bool) -> str | None:
    """Why this mail may come from software rather than a person, if it may.

    A person describing their own bounce ("my mail could not be delivered") has
    none of these, so delivery-report sentences in their text never count."""
    if null_sender:
        return "a null sender"
    if _system_sender(mail):
        return "a system sender"
    if _auto_submitted(mail):
        return "an Auto-Submitted sender"
    to = mail.header("to")
    if _contains_any(to, ("bounce", "-admin@", "owner-")) and markers.BOUNCE_RECIPIENT.search(to):
        return "a mail to a bounce address"
    return None


def _null_sender(mail: _Mail) -> bool:
    """RFC 5321 sends delivery reports with an empty reverse path: a From (or
    Return-Path) of "<>" or nothing. A From we cannot read ('"john doe"@example.com')
    is a person's client doing it wrong, not a null sender."""
    if "from" in mail.names and mail.header("from") in ("<>", ""):
        return True
    if mail.header("from").endswith("<>"):  # "Mail Delivery System" <>
        return True
    return "return-path" in mail.names and mail.header("return-path") in ("<>", "")


def _system_sender(mail: _Mail) -> bool:
    return mail.sender_kind != ""


def _sender_kind(from_header: str) -> str:
    # Names and mailboxes only: a person at smtp-solutions.example is no mail system.
    who = _DOMAIN.sub("@", from_header) if "@" in from_header else from_header
    if not _contains_any(who, markers.SYSTEM_SENDER_GATE):
        return ""
    match = markers.SYSTEM_SENDER.search(who)
    if match is None:
        return ""
    if match.lastgroup == "daemon" or markers.BOUNCE_SENDER.search(who, match.end()):
        return "daemon"
    return "system"


def _auto_submitted(mail: _Mail) -> bool:
    value = mail.header("auto-submitted")
    return bool(value) and not value.startswith("no")


def _report_head(mail: _Mail) -> str:
    """The start of the body up to the first quote or forward separator, lowercased."""
    text = (
        mail.text
        if mail.text.strip()
        else leaf_text(mail.message, first=True, limit=4 * _HEAD_CHARS)
    )
    head = text[:_HEAD_CHARS].lower()
    separator = markers.QUOTE_SEPARATOR.search(head)
    return head[: separator.start()] if separator else head


def _auto_reply_headers(mail: _Mail) -> Verdict | None:
    auto_submitted = mail.header("auto-submitted")
    if auto_submitted and not auto_submitted.startswith("no"):
        return Classification.AUTO_REPLY, f"Auto-Submitted: {auto_submitted.split(';')[0]}"
    if not mail.names.isdisjoint(_AUTO_REPLY_HEADER_SET):
        name = next(name for name in _AUTO_REPLY_HEADERS if name in mail.names)
        return Classification.AUTO_REPLY, name.title()
    if "x-auto-response-suppress" in mail.names:
        suppress = {part.strip() for part in mail.header("x-auto-response-suppress").split(",")}
        if "all" in suppress or {"oof", "autoreply"} <= suppress:
            return Classification.AUTO_REPLY, "X-Auto-Response-Suppress (Exchange)"
    if mail.header("precedence") == "auto_reply":
        return Classification.AUTO_REPLY, "Precedence: auto_reply"
    return _auto_reply_subject(mail.subject)


def _auto_reply_subject(subject: str) -> Verdict | None:
    # Only as a prefix: a whole subject of "Out of office" is as often a person
    # asking how to set one up, and Gmail's replies that use it say Auto-Submitted.
    head, colon, rest = subject.replace("\uff1a", ":").partition(":")
    if colon and rest.strip() and markers.AUTO_REPLY_HEAD.fullmatch(head):
        return Classification.AUTO_REPLY, "auto-reply subject prefix"
    if _contains_any(subject, _BRACKETS) and markers.AUTO_REPLY_BRACKETED.search(subject):
        return Classification.AUTO_REPLY, "auto-reply subject marker in brackets"
    if _contains_any(subject, ("office", "haus", "büro")) and markers.AUTO_REPLY_NOTES.search(
        subject
    ):
        return Classification.AUTO_REPLY, "subject: '... is out of the office'"
    return None


def _bulk_headers(mail: _Mail) -> Verdict | None:
    precedence = mail.header("precedence")
    if precedence in _BULK_PRECEDENCE:
        return Classification.BULK, f"Precedence: {precedence}"
    if not mail.names.isdisjoint(_LIST_HEADER_SET):
        name = next(name for name in _LIST_HEADERS if name in mail.names)
        return Classification.BULK, name.title()
    domain = (mail.sender or "").rpartition("@")[2].lower()
    if domain in markers.BULK_SENDER_DOMAINS:
        return Classification.BULK, f"list sender @{domain}"
    return None


def _auto_reply_body(mail: _Mail) -> Verdict | None:
    head = mail.text[:_HEAD_CHARS].lstrip()
    first_line = head.partition("\n")[0].strip().rstrip(":").lower()
    if first_line and markers.AUTO_REPLY_HEAD.fullmatch(first_line):
        return Classification.AUTO_REPLY, "auto-reply marker as the first line"
    opening = head[:600].lower()
    if _contains_any(opening, markers.AUTO_REPLY_BODY_GATE) and (
        markers.AUTO_REPLY_BODY.search(opening)
    ):
        return Classification.AUTO_REPLY, "body introduces itself as an automatic reply"
    return None


def _bulk_body(mail: _Mail) -> Verdict | None:
    """Newsletters without list headers: a newsletter-like sender and its footer."""
    if markers.REPLY_PREFIX.match(mail.subject) or mail.forwarded:
        return None
    hint = _newsletter_sender(mail)
    if hint is None:
        return None
    tail = _footer_text(mail)
    if not _contains_any(tail, markers.BULK_FOOTER_GATE):
        return None
    kinds = sum(
        pattern.search(tail) is not None
        for pattern in (
            markers.BULK_FOOTER_LINK,
            markers.BULK_FOOTER_WHY,
            markers.BULK_FOOTER_STOP,
        )
    )
    if kinds >= 2:
        return Classification.BULK, f"unsubscribe footer and {hint}"
    return None


def _newsletter_sender(mail: _Mail) -> str | None:
    local = (mail.sender or "").rpartition("@")[0].lower()
    if markers.BULK_SENDER_LOCAL.match(local):
        return f"sender {local}@"
    return_path = mail.header("return-path").strip("<> ")
    if _contains_any(return_path, markers.BULK_RETURN_PATH_GATE) and (
        markers.BULK_RETURN_PATH.search(return_path)
    ):
        return "bounce-collecting Return-Path"
    # Decoded: "=?utf-8?q?ACME_Newsletter?=" is the same name as "ACME Newsletter".
    name = (single_address(mail.message, "From")[1] or "").lower()
    if markers.BULK_SENDER_NAME.search(name):
        return "newsletter sender name"
    if _no_text(mail.text) and mail.message.get_content_type() in _NEWSLETTER_TYPES:
        return "no readable text part"
    return None


def _footer_text(mail: _Mail) -> str:
    """The end of the body, where footers are; the last part's end if the text is empty."""
    text = mail.text
    if _no_text(text):
        text = leaf_text(mail.message, first=False, limit=4 * _TAIL_CHARS)
    return text[-_TAIL_CHARS:].lower()


def _no_text(text: str) -> bool:
    """Too little text to hold a footer: a stub text/plain beside the real HTML."""
    return len(text) < 1000 and len(text.strip()) < 200


def _contains_any(text: str, needles: tuple[str, ...]) -> bool:
    """A cheap gate before a regex: a loop of `in` is several times faster than
    a regex alternation, which the re module tries branch by branch per position."""
    for needle in needles:  # noqa: SIM110 - any() with a generator is twice as slow here
        if needle in text:
            return True
    return False
