"""Fixtures shared by all tests: real databases, settings pointing into tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from mailbridge.settings import OutboundSettings, QueueSettings, Settings
from mailbridge.store import Store
from tests.support.databases import database
from tests.support.dovecot import dovecot_server as dovecot_server

# CI explores the same examples on every run, so a red run always reproduces and a
# green one cannot turn red by luck; laptops explore new ones (and keep what fails
# in .hypothesis/ to replay it).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database; every test using it runs on SQLite and PostgreSQL."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh migrated PostgreSQL database, for tests that need several nodes on one."""
    with database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    base = Settings()
    return replace(
        base,
        database=replace(base.database, url=database_url, lock_timeout=2.0),
        outbound=OutboundSettings(
            maildir=str(tmp_path / "outbox"), from_address="helpdesk@example.org"
        ),
        queues=(
            QueueSettings(address="helpdesk@example.org", type="incident", prefix="INC"),
            QueueSettings(address="requests@example.org", type="service_request", prefix="REQ"),
        ),
        source="<test>",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.database.url, lock_timeout=settings.database.lock_timeout)
    yield s
    s.dispose()
