"""Fixtures for end-to-end tests: an installation in tmp_path whose daemon is a real process.

Each fixture's teardown stops every daemon it started and then checks that the
processes the daemon spawned (its worker, multiprocessing's resource tracker)
are gone too. A leftover is killed and fails the test: a worker that outlives
its daemon keeps taking mail from the database behind the admin's back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Installation, Queue, clean_environment, write_config
from tests.support.ports import free_port

HELPDESK = Queue("helpdesk@example.org", "incident", "INC")
REQUESTS = Queue("requests@example.org", "service_request", "REQ")


def finish(installation: Installation) -> None:
    leaked = installation.close()
    if leaked:
        pytest.fail("the daemon left processes behind (killed now):\n" + "\n".join(leaked))


@pytest.fixture
def installation(database_url: str, tmp_path: Path) -> Iterator[Installation]:
    """A configured help desk (queues INC and REQ, Maildir outbound) on both backends."""
    port = free_port()
    maildir = tmp_path / "outbox"
    config = write_config(
        tmp_path / "mailbridge.toml",
        database_url=database_url,
        smtp_port=port,
        maildir=maildir,
        from_address=HELPDESK.address,
        queues=[HELPDESK, REQUESTS],
    )
    installation = Installation(
        tmp_path,
        config=config,
        port=port,
        maildir=maildir,
        database_url=database_url,
        env=clean_environment(),
    )
    yield installation
    finish(installation)


@pytest.fixture
def bare_installation(tmp_path: Path) -> Iterator[Installation]:
    """No config file at all: the embedded defaults, only the port from the environment.

    The defaults are relative paths (sqlite:///var/mailbridge.db, var/outbox),
    so they land in tmp_path, the daemon's working directory.
    """
    port = free_port()
    installation = Installation(
        tmp_path,
        config=None,
        port=port,
        maildir=tmp_path / "var" / "outbox",
        database_url=f"sqlite:///{tmp_path / 'var' / 'mailbridge.db'}",
        env=clean_environment(MAILBRIDGE_SMTP_PORT=str(port)),
    )
    yield installation
    finish(installation)
