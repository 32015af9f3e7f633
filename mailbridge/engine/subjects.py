"""Subjects as clients rewrite them: reply and forward prefixes in many languages.

Threading never depends on the subject's wording (the tag is found anywhere in
it), but the conversation's topic does: Outlook groups mails by Thread-Topic,
the subject without prefixes or tags, and a ticket opened by a forwarded mail
should read as what it is about.
"""

from __future__ import annotations

import re

# Reply and forward markers clients put in front: English, German, Nordic,
# Dutch, Polish, Turkish, French, Spanish, Italian, Portuguese, Finnish, Chinese,
# Japanese, Hebrew, Greek... repeated, bracketed, with counters (Re[2]:, RE^3:)
# and full-width colons.
_PREFIX = re.compile(
    r"""^\s*(?:
        (?:re|aw|sv|vs|antw|antwort|odp|ynt|r|rif|ref|res|resp|rv|fw|fwd|wg|tr|vb|
           doorst|pd|enc|i|ilt|yml|fs|回复|回覆|答复|转发|轉寄|返信|転送|השב|הועבר|απ|σχετ|προώθηση)
        (?:\s*[\[(^]?\s*\d{1,3}\s*[\])]?)?
        \s*[:\uff1a]\s*
    )+""",
    re.IGNORECASE | re.VERBOSE,
)
# Old clients wrap a forwarded subject whole: "[Fwd: printer on fire]".
_WRAPPED = re.compile(r"^\s*\[\s*(?:re|fwd?|fw)\s*:\s*(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"\[\s*[A-Z][A-Z0-9]{1,15}-\d{1,12}\s*\]")


def without_prefixes(subject: str) -> str:
    """The subject with every leading reply/forward marker removed."""
    previous = None
    text = subject
    while text != previous:
        previous = text
        text = _PREFIX.sub("", text, count=1)
        text = _WRAPPED.sub(r"\1", text, count=1)
    return text.strip()


def topic(subject: str) -> str:
    """What the conversation is about: no prefixes, no ticket tags, spaces collapsed."""
    text = without_prefixes(_TAG.sub(" ", subject))
    return " ".join(without_prefixes(text).split())
