"""Real databases for tests: a SQLite file per test, a fresh PostgreSQL database per test.

PostgreSQL comes from MAILBRIDGE_TEST_DATABASE_URL. Without it the PostgreSQL
variants skip on a laptop and fail under CI=true, where .ci/run provides it.
Each test gets its own database cloned from a migrated template, so tests
never see each other's rows and never pay for migrations twice.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mailbridge.store import Store, upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ENV = "MAILBRIDGE_TEST_DATABASE_URL"
TEMPLATE = "mailbridge_template"


def require_service(name: str, why: str) -> None:
    """Skip on a laptop, fail under CI=true: CI must never silently skip a service."""
    if IN_CI:
        pytest.fail(f"{name} is required under CI=true: {why}")
    pytest.skip(f"{name} not available: {why}")


def postgres_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        require_service("PostgreSQL", f"set {PG_ENV}")
        raise AssertionError("unreachable")
    return url


_template_ready: set[str] = set()


def _ensure_template(admin_url: str) -> None:
    if admin_url in _template_ready:
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
    admin.dispose()
    store = Store(make_url(admin_url).set(database=TEMPLATE).render_as_string(False))
    upgrade(store)
    store.dispose()
    _template_ready.add(admin_url)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; dropped afterwards."""
    admin_url = postgres_admin_url()
    try:
        _ensure_template(admin_url)
    except Exception as error:  # noqa: BLE001 -- any failure here means "no server"
        require_service("PostgreSQL", f"{PG_ENV} given but unusable: {error}")
    name = f"mbt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database URL of the given kind ("sqlite" or "postgres")."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'mailbridge.db'}"
        store = Store(url)
        upgrade(store)
        store.dispose()
        yield url
        return
    with postgres_database() as url:
        yield url
