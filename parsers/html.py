"""HTML from a mail: sanitised for display, and rendered as text for HTML-only mail.

Sanitising is nh3 (Python binding to the Rust crate ammonia): an allow-list
sanitiser built on html5ever, the HTML5 parsing algorithm browsers use, so
what it keeps is what a browser would see; it runs at ~35 MB/s here, 3 times
the stdlib's pure-Python tokenizer alone, and is maintained and fuzzed.
bleach is deprecated and slower; a regex "sanitiser" is not one. Beyond
ammonia's defaults we remove what makes a mail phone home when shown: every
image that is not a `cid:` inline part (tracking pixels), `style` and
`background` (CSS `url()`), and every link that is not http(s), mailto or tel.

Rendering text uses the same parser: nh3 first reduces the markup to the
elements that shape text (blocks, cells, breaks) with only the attributes that
mark quoted history, well-formed and balanced; a small tokenizer over that
output then writes lines. html2text (GPL-3.0, Markdown output) and inscriptis
(lxml) were the alternatives; neither drops quoted history where the HTML marks
it (Gmail `gmail_quote`, `<blockquote type="cite">`, Outlook
`divRplyFwdMsg`/`appendonsend`, Yahoo `yahoo_quoted`), which we need, and this
is 5 to 10 times faster than a walk over `html.parser`.

html5ever takes time quadratic in element nesting (20,000 nested `<div>` take
a second), so markup whose estimated cost is past `_COST_BUDGET` is neither
sanitised (the caller keeps no HTML) nor parsed: its text is read by
stripping tags.
"""

from __future__ import annotations

import re
from html import unescape

import nh3

# Sum over start tags of the nesting depth at that tag; ~10 million is ~50 ms of html5ever.
_COST_BUDGET = 10_000_000
_FEW_TAGS = 4_000  # at most ~8 million even if every tag nests in the previous one
_LINK_SCHEMES = re.compile(r"(?i)\s*(https?|mailto|tel):")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if value[:4].lower() == "cid:" else None
    if attribute == "href":
        return value if _LINK_SCHEMES.match(value) or value.startswith("#") else None
    return value


# Elements whose content is never text anyone should read.
_HIDDEN = {"script", "style", "title", "template", "noscript", "iframe", "object", "embed"}
_HIDDEN |= {"svg", "math", "head", "select", "textarea"}
# `cite` (on q, blockquote, del, ins) is a URL the filter would have to check like a
# link, for nothing a reader sees: dropped.
_ATTRIBUTES = {tag: set(allowed) - {"cite"} for tag, allowed in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["img"] = {"src", "alt", "width", "height"}
_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS),
    clean_content_tags=_HIDDEN - {"head", "select", "textarea"},
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes={"http", "https", "mailto", "tel", "cid"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)

# Elements that start a new line, and those that also leave a blank line around them.
_PARAGRAPH = frozenset(
    {"p", "ul", "ol", "dl", "table", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_BLOCK = _PARAGRAPH | {"div", "tr", "li", "hr", "dt", "dd", "section", "article", "header"}
_BLOCK |= {"footer", "address", "center", "form", "fieldset", "figure", "figcaption", "main"}
_BLOCK |= {"nav", "aside", "details", "summary"}
_CELL = frozenset({"td", "th"})
_VOID = frozenset({"br", "hr", "img", "wbr", "col", "area"})
_STRUCTURE = nh3.Cleaner(
    tags=set(_BLOCK | _CELL | {"br"}),
    clean_content_tags=_HIDDEN,
    attributes={"*": {"class", "id", "type"}},
    link_rel=None,
    url_schemes=set(),
    strip_comments=True,
)

# Quoted history, marked in the HTML by the client that wrote the reply.
_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix"}
)
# Outlook puts the history *after* these markers, as siblings: the rest of the document.
_REST_IS_HISTORY_IDS = frozenset(
    {"divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"}
)

_ANY_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,20})")
_NORMAL_TOKEN = re.compile(r"<(/?)([a-z0-9]+)([^>]*)>|([^<]+)")
_NORMAL_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
_STRIP_TAGS = re.compile(r"<[^>]{0,2000}>")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u034f\u00ad"), None)
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def sanitise(markup: str, *, costly: bool | None = None) -> str | None:
    """Markup safe to show, or None when it would take too long to sanitise.
    `costly`: the answer of `too_costly(markup)` if the caller has it."""
    if too_costly(markup) if costly is None else costly:
        return None
    return str(_CLEANER.clean(markup))


def to_text(markup: str, *, costly: bool | None = None) -> str:
    """Readable text of an HTML document: hidden elements skipped, block elements on
    their own lines, quoted history dropped where the HTML marks it and new text
    comes before it."""
    if too_costly(markup) if costly is None else costly:
        crude = _SPACES.sub(" ", unescape(_STRIP_TAGS.sub(" ", markup)))
        return crude.translate(_INVISIBLE).strip()
    writer = _TextWriter()
    for match in _NORMAL_TOKEN.finditer(_STRUCTURE.clean(markup)):
        closing, tag, attributes, data = match.groups()
        if data is not None:
            writer.data(unescape(data))
        elif closing:
            writer.end(tag)
        else:
            writer.start(tag, attributes)
    return writer.text()


def too_costly(markup: str) -> bool:
    """Would html5ever take quadratic time here? Estimated as the sum, over start tags,
    of how many elements are open there (unclosed tags counted as open). An end tag
    closes only an open element of its name, and those opened after it, as
    html5ever does: a stray `</x>` closes nothing."""
    if markup.count("<") <= _FEW_TAGS:
        return False
    cost = 0
    stack: list[str] = []
    open_names: dict[str, int] = {}  # name -> how many of the stack have it
    for match in _ANY_TAG.finditer(markup):
        name = match.group(2).lower()
        if match.group(1):
            if open_names.get(name):
                while (closed := stack.pop()) != name:
                    open_names[closed] -= 1
                open_names[name] -= 1
        elif name not in _VOID:
            cost += len(stack)
            if cost > _COST_BUDGET:
                return True
            stack.append(name)
            open_names[name] = open_names.get(name, 0) + 1
    return False


class _TextWriter:
    """Lines from the balanced, reduced markup `_STRUCTURE` writes."""

    def __init__(self) -> None:
        self._out: list[str] = []
        self._open: list[str] = []
        self._dropping = 0  # inside a quote block: its depth in _open, +1
        self._rest_dropped = False
        self._pre = 0
        self._has_text = False
        self._newlines = 0  # line breaks at the end of the output so far

    def start(self, tag: str, attributes: str) -> None:
        if self._rest_dropped:
            return
        if not self._dropping and attributes and self._has_text:
            marker = _quote_marker(tag, attributes)
            if marker == "rest":
                self._rest_dropped = True
                return
            if marker == "block":
                self._dropping = len(self._open) + 1
        if tag == "br":
            self._write("\n")  # an explicit break: two are a blank line
        elif tag in _BLOCK:
            self._newline(2 if tag in _PARAGRAPH else 1)
        elif tag in _CELL:
            self._write(" ")
        if tag not in _VOID:
            self._open.append(tag)
            self._pre += tag == "pre"

    def end(self, tag: str) -> None:
        if self._rest_dropped or tag not in self._open:
            return
        while self._open:
            closed = self._open.pop()
            self._pre -= closed == "pre"
            if self._dropping > len(self._open):
                self._dropping = 0
            if closed == tag:
                break
        if tag in _BLOCK:
            self._newline(2 if tag in _PARAGRAPH else 1)

    def data(self, data: str) -> None:
        if self._rest_dropped or self._dropping:
            return
        if not self._pre:
            data = _SPACES.sub(" ", data)
        data = data.translate(_INVISIBLE)
        if data.strip():
            self._has_text = True
        self._write(data)

    def _write(self, text: str) -> None:
        if self._dropping or not text:
            return
        self._out.append(text)
        stripped = text.rstrip(" ")
        if stripped:
            ending = len(stripped) - len(stripped.rstrip("\n"))
            self._newlines = self._newlines + ending if ending == len(stripped) else ending

    def _newline(self, count: int) -> None:
        """End the line, leaving count - 1 blank lines (fewer only at the start)."""
        if self._out and self._newlines < count:
            self._write("\n" * (count - self._newlines))

    def text(self) -> str:
        lines = (line.strip() for line in "".join(self._out).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _quote_marker(tag: str, attributes: str) -> str | None:
    """ "block" for an element holding quoted history, "rest" for a marker after which
    the rest of the document is history, None otherwise."""
    for name, value in _NORMAL_ATTRIBUTE.findall(attributes):
        value = unescape(value).strip().lower()
        if name == "class" and not _QUOTE_CLASSES.isdisjoint(value.split()):
            return "block"
        if name == "id" and value in _REST_IS_HISTORY_IDS:
            return "rest"
        if name == "type" and tag == "blockquote" and value == "cite":
            return "block"
    return None
