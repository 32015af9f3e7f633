"""Notification templates to subject, text and HTML, per language, with per-queue overrides.

Six kinds (`KINDS`), each three files: `<kind>.subject`, `<kind>.txt`,
`<kind>.html`. Each file is looked up on its own, first found wins:

1. `queues/<queue lowercased>/<language>/<file>`
2. `queues/<queue lowercased>/<file>`
3. `<language>/<file>`
4. `en/<file>`

so a queue overrides only the files it has, and an override may
`{% extends "en/acknowledgement.txt" %}` (or `language ~ "/acknowledgement.txt"`)
and replace one block. The language templates extend `<language>/_base.txt` and
`<language>/_base.html` (which extends the language-neutral `layout.html`); the
blocks are `greeting`, `body`, `signature` and `footer`. `<language>/labels.toml`
names statuses and ticket types for that language.

Every template gets these variables (StrictUndefined: a missing one is an error,
and `render` refuses a context without all of them):

- `ref`: the ticket's reference, e.g. "INC-1001"
- `subject`: the ticket's subject
- `queue`: the queue address the ticket belongs to
- `requester`: the requester's address
- `ticket_type`: incident, service_request, problem, change or release
- `status`, `previous_status`: snake_case status values; `previous_status` may be None
- `text`: the agent's reply for `reply`, else ""
- `agent_name`: the replying agent's name, or None
- `reopen_days`: days a resolved ticket can be reopened by a reply (0: the
  sentence is left out)
- `auto_close_days`: days a resolved ticket waits for the requester before it
  closes itself (0: left out)
- `helpdesk_name`: how the desk signs, e.g. "Help desk"

`render` adds `language` (the language used). Filters: `status_label` and
`type_label` (the names from labels.toml; an unknown value shows with underscores
as spaces) and `nl2br` (HTML: escaped text with its line breaks kept).

Templates are read once per process (auto_reload off) and each lookup is
remembered, so rendering touches no file after the first mail of its kind:
restart the daemon after editing a template. This module renders only; it does
not decide which notification is sent, nor build the mail (`headers.py`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.runtime import Context
from markupsafe import Markup, escape

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_LANGUAGE = "en"
KINDS = (
    "acknowledgement",
    "reply",
    "status_changed",
    "pending_reminder",
    "resolved",
    "closed",
)
CONTEXT_KEYS = frozenset(
    {
        "ref",
        "subject",
        "queue",
        "requester",
        "ticket_type",
        "status",
        "previous_status",
        "text",
        "agent_name",
        "reopen_days",
        "auto_close_days",
        "helpdesk_name",
    }
)
_LANGUAGE_DIR = re.compile(r"[a-z]{2,3}")
_LANGUAGE_SPLIT = re.compile(r"[-_,;\s]")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


class Renderer:
    """Renders notifications; one instance per process, templates and lookups cached."""

    def __init__(self, directory: Path = DEFAULT_TEMPLATES) -> None:
        self._directory = directory
        self._languages = frozenset(
            path.name
            for path in directory.iterdir()
            if path.is_dir() and _LANGUAGE_DIR.fullmatch(path.name)
        )
        self._labels = {language: _labels(directory / language) for language in self._languages}
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # Read once per process: restart the daemon after editing a template.
            auto_reload=False,
        )
        self._env.filters["status_label"] = self._status_label
        self._env.filters["type_label"] = self._type_label
        self._env.filters["nl2br"] = _nl2br
        # (queue, language, file) -> template. Jinja caches templates it found,
        # but asks the file system again for every name it did not find.
        self._found: dict[tuple[str, str, str], jinja2.Template] = {}

    @property
    def languages(self) -> frozenset[str]:
        """The languages with a template directory, e.g. {"en", "de"}."""
        return self._languages

    def pick_language(self, *wanted: str | None) -> str:
        """The first wanted language we have templates for ("de-DE" and "DE" mean "de")."""
        for value in wanted:
            if not value:
                continue
            primary = _LANGUAGE_SPLIT.split(value.strip(), maxsplit=1)[0].lower()
            if primary in self._languages:
                return primary
        return DEFAULT_LANGUAGE

    def render(
        self, kind: str, *, queue: str, language: str, context: Mapping[str, Any]
    ) -> Rendered:
        """Subject, text and HTML of one notification.

        `language` falls back to English when we have no templates for it.
        Raises ValueError for an unknown kind or a context missing variables.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown notification {kind!r} (one of {', '.join(KINDS)})")
        missing = CONTEXT_KEYS - context.keys()
        if missing:
            raise ValueError(f"context lacks {', '.join(sorted(missing))}")
        used = self.pick_language(language)
        variables = {**context, "language": used}
        subject, text, html = (
            self._template(queue, used, f"{kind}.{part}").render(variables)
            for part in ("subject", "txt", "html")
        )
        return Rendered(
            subject=" ".join(subject.split()),
            text=_tidy(text),
            html=_tidy(html),
            language=used,
        )

    def _template(self, queue: str, language: str, name: str) -> jinja2.Template:
        key = (queue.lower(), language, name)
        template = self._found.get(key)
        if template is None:
            folder = f"queues/{key[0]}"
            candidates = [
                f"{folder}/{language}/{name}",
                f"{folder}/{name}",
                f"{language}/{name}",
                f"{DEFAULT_LANGUAGE}/{name}",
            ]
            template = self._env.select_template(candidates)
            self._found[key] = template
        return template

    @jinja2.pass_context
    def _status_label(self, context: Context, value: object) -> str:
        return self._label(context, "statuses", value)

    @jinja2.pass_context
    def _type_label(self, context: Context, value: object) -> str:
        return self._label(context, "ticket_types", value)

    def _label(self, context: Context, table: str, value: object) -> str:
        if value is None:
            return ""
        raw = str(value)
        names = self._labels.get(str(context.get("language")), {}).get(table, {})
        return names.get(raw, raw.replace("_", " "))


def _labels(directory: Path) -> dict[str, dict[str, str]]:
    path = directory / "labels.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as file:
        data = tomllib.load(file)
    return {
        table: {str(key): str(name) for key, name in entries.items()}
        for table, entries in data.items()
        if isinstance(entries, dict)
    }


def _nl2br(value: object) -> Markup:
    """Escaped text whose line breaks survive in HTML (clients ignore white-space CSS)."""
    text = value if isinstance(value, str) else str(value)  # Markup stays Markup
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


def _tidy(rendered: str) -> str:
    """No blank lines before the first and after the last line, one final newline."""
    return rendered.lstrip("\r\n").rstrip() + "\n"
