"""Templates to text: Jinja2 with a per-queue override directory.

A template for queue `helpdesk@example.org` is looked up first under
`templates/queues/helpdesk@example.org/`, then under `templates/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class Renderer:
    """Renders notification templates; one instance per process, templates cached."""

    def __init__(self, directory: Path = DEFAULT_TEMPLATES) -> None:
        self._directory = directory
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            # Read once per process: restart the daemon after editing a template.
            auto_reload=False,
        )

    def render(self, name: str, queue: str, context: dict[str, Any]) -> str:
        """Render `name` (e.g. "acknowledgement.txt"), preferring the queue's own copy."""
        candidates = [f"queues/{queue.lower()}/{name}", name]
        template = self._env.select_template(candidates)
        return template.render(**context)
