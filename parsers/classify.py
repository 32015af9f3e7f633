"""May we answer this mail at all? Answering auto-replies, list mail or bounces is
how mail loops start (RFC 3834 section 2), so this decides before anyone replies.
"""

from __future__ import annotations

from email.message import Message

from parsers.model import Classification

_BOUNCE_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})


def classify(
    message: Message, *, sender: str | None, subject: str, text: str
) -> tuple[Classification, str]:
    """Return the classification and the header or rule that decided it."""
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type") or "").lower()
    if content_type == "multipart/report" and report_type == "delivery-status":
        return Classification.BOUNCE, "multipart/report; report-type=delivery-status"
    local = (sender or "").rpartition("@")[0].lower()
    if local in _BOUNCE_LOCALPARTS:
        return Classification.BOUNCE, f"From: {local}@…"
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return Classification.AUTO_REPLY, f"Auto-Submitted: {auto_submitted.split(';')[0]}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if message.get(header) is not None:
            return Classification.AUTO_REPLY, header
    suppress = str(message.get("X-Auto-Response-Suppress", "")).lower()
    if "oof" in suppress and "all" in suppress.replace(" ", "").split(","):
        return Classification.AUTO_REPLY, "X-Auto-Response-Suppress: All"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return Classification.BULK, f"Precedence: {precedence}"
    for header in ("List-Id", "List-Unsubscribe"):
        if message.get(header) is not None:
            return Classification.BULK, header
    return Classification.HUMAN, "no automatic or bulk marker"
