"""Where the real-world corpus lives: `../shared/corpus` beside the checkout (as in CI),
or wherever MAILBRIDGE_CORPUS points. Missing: skip on a laptop, fail under CI=true."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.databases import require_service

ROOT = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path:
    configured = os.environ.get("MAILBRIDGE_CORPUS")
    return Path(configured) if configured else ROOT.parent / "shared" / "corpus"


def corpus_mails() -> list[Path]:
    """Every corpus mail, sorted; empty when the corpus is not there."""
    return sorted(corpus_dir().glob("*/*.eml"))


def require_corpus() -> Path:
    path = corpus_dir()
    if not any(path.glob("*/*.eml")):
        require_service("the mail corpus", f"nothing at {path}; set MAILBRIDGE_CORPUS")
    return path
