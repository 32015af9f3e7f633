"""The import boundaries of STYLE.md section 1, checked on every module's AST.

Data moves one way; a module that imports against the flow fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package prefix -> imports it must never make (prefix match on the dotted name)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "parsers": (
        "mailbridge",
        "notifiers",
        "sqlalchemy",
        "asyncio",
        "jinja2",
        "aiosmtpd",
        "imapclient",
        "smtplib",
        "socket",
        "logging",
    ),
    "mailbridge.engine": (
        "mailbridge.adapters",
        "notifiers",
        "smtplib",
        "imapclient",
        "aiosmtpd",
        "mailbridge.daemon",
        "mailbridge.cli",
        "mailbridge.worker",
    ),
    "mailbridge.store": (
        "mailbridge.engine",
        "mailbridge.adapters",
        "notifiers",
        "mailbridge.daemon",
        "mailbridge.cli",
    ),
    "mailbridge.adapters": (
        "notifiers",
        "mailbridge.engine.tickets",
        "mailbridge.store.models",
        "mailbridge.daemon",
        "mailbridge.cli",
        "mailbridge.worker",
    ),
    "notifiers": (
        "mailbridge.adapters",
        "mailbridge.engine",
        "mailbridge.daemon",
        "mailbridge.cli",
        "mailbridge.worker",
    ),
    "mailbridge.settings": ("mailbridge.store", "mailbridge.engine", "notifiers"),
    "mailbridge.events": ("mailbridge.store", "mailbridge.engine", "notifiers", "sqlalchemy"),
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("parsers", "mailbridge", "notifiers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.append((dotted.removesuffix(".__init__"), path))
    return found


def _imports(path: Path, module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level]
                names.add(".".join([*base, node.module or ""]).strip("."))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_module_respects_the_layers(module: str, path: Path) -> None:
    rules = [
        bad
        for prefix, bad in FORBIDDEN.items()
        if module == prefix or module.startswith(prefix + ".")
    ]
    imported = _imports(path, module)
    for forbidden in (name for bad in rules for name in bad):
        offending = sorted(n for n in imported if n == forbidden or n.startswith(forbidden + "."))
        assert not offending, f"{module} imports {offending}, against STYLE.md section 1"


def test_the_layer_rules_see_real_modules() -> None:
    # A test that cannot fail is a defect: make sure the walk finds what it polices.
    names = {m for m, _ in _modules()}
    assert {"parsers", "mailbridge.engine.intake", "notifiers.outbox"} <= names
    assert "sqlalchemy" in " ".join(_imports(ROOT / "mailbridge/store/models.py", "x"))


def test_public_api_lists_what_it_exports() -> None:
    import notifiers
    import parsers

    for package in (parsers, notifiers):
        for name in package.__all__:
            assert hasattr(package, name), f"{package.__name__}.__all__ names missing {name}"
