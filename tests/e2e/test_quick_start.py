"""The quick start, end to end: one mail in over SMTP, one ticket, one acknowledgement out.

This is the first thing a new admin tries, so it runs both on a written config
(SQLite and PostgreSQL) and on no config at all (the embedded defaults).
"""

from __future__ import annotations

import smtplib
from email.utils import parseaddr
from pathlib import Path

import pytest

from tests.support.daemon import Installation, clean_environment, run_cli
from tests.support.helpdesk_state import backlog
from tests.support.mailflow import DeliveredMail, maildir_new
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

SETTLE_TIMEOUT = 30.0


# Exactly the mail of the acceptance line: no To, no Date, bare LF line ends.
QUICK_START_MAIL = (
    "From: alice@example.org\nMessage-ID: <1@example.org>\nSubject: printer on fire\n\nhelp"
)


def _send_quick_start(port: int, queue: str) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("alice@example.org", [queue], QUICK_START_MAIL)


def _wait_for_one_ack(installation: Installation) -> list[DeliveredMail]:
    """Wait until the acknowledgement is out and nothing is pending; return the Maildir."""
    store = installation.store()
    wait_until(
        lambda: maildir_new(installation.maildir) and backlog(store).settled,
        timeout=SETTLE_TIMEOUT,
    )
    return maildir_new(installation.maildir)


def _assert_acknowledgement(acks: list[DeliveredMail], *, ref: str, sender: str) -> None:
    assert len(acks) == 1, [a.path.name for a in acks]
    ack = acks[0]
    assert f"[{ref}]" in ack.header("Subject")
    assert "printer on fire" in ack.header("Subject")
    assert ack.header("In-Reply-To") == "<1@example.org>"
    assert "<1@example.org>" in ack.header("References").split()
    assert ack.header("Auto-Submitted") == "auto-replied"
    assert ack.header("To") == "alice@example.org"
    assert parseaddr(ack.header("From"))[1] == sender
    assert ack.header("Message-ID").startswith("<")


def _assert_one_ticket(installation: Installation, queue: str) -> None:
    tickets = installation.cli_json("tickets")
    assert [(t["ref"], t["queue"], t["requester"], t["subject"]) for t in tickets] == [
        ("INC-1001", queue, "alice@example.org", "printer on fire")
    ]
    shown = installation.cli_json("show", "INC-1001")
    inbound = [a for a in shown["articles"] if a["direction"] == "inbound"]
    assert [a["message_id"] for a in inbound] == ["<1@example.org>"]
    assert "help" in inbound[0]["text"]
    assert installation.cli_json("outbox", "list") == []  # nothing pending or failed


def test_quick_start_mail_becomes_ticket_and_acknowledgement(installation: Installation) -> None:
    daemon = installation.start_daemon()

    assert _send_quick_start(installation.port, "helpdesk@example.org") == {}

    acks = _wait_for_one_ack(installation)
    _assert_acknowledgement(acks, ref="INC-1001", sender="helpdesk@example.org")
    _assert_one_ticket(installation, "helpdesk@example.org")

    assert daemon.stop() == 0, daemon.log_tail()
    assert daemon.leftovers(timeout=10) == []


def test_quick_start_without_any_config_file(bare_installation: Installation) -> None:
    """`mailbridge run` in an empty directory: embedded defaults, port from the environment."""
    daemon = bare_installation.start_daemon()

    assert _send_quick_start(bare_installation.port, "helpdesk@localhost") == {}

    acks = _wait_for_one_ack(bare_installation)
    _assert_acknowledgement(acks, ref="INC-1001", sender="helpdesk@localhost")
    _assert_one_ticket(bare_installation, "helpdesk@localhost")
    # The defaults are relative to the working directory, as documented.
    assert (bare_installation.root / "var" / "mailbridge.db").is_file()
    assert acks[0].path.parent == bare_installation.root / "var" / "outbox" / "new"

    assert daemon.stop() == 0, daemon.log_tail()
    assert daemon.leftovers(timeout=10) == []


@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_config_option_is_honoured_before_and_after_the_command(tmp_path: Path, where: str) -> None:
    """`mailbridge --config FILE run` is how the docs and systemd units call it.

    Given a config file that does not exist, the command must refuse with
    exit 78 naming the file, wherever --config stands; silently running on the
    embedded defaults instead would serve the wrong database and port.
    """
    missing = tmp_path / "nowhere" / "mailbridge.toml"
    argv = (
        ["--config", str(missing), "tickets"]
        if where.startswith("before")
        else [
            "tickets",
            "--config",
            str(missing),
        ]
    )
    result = run_cli(*argv, config=None, cwd=tmp_path, env=clean_environment())

    assert result.returncode == 78, (result.returncode, result.stdout, result.stderr)
    assert str(missing) in result.stderr
    assert not (tmp_path / "var").exists()  # no database made from the defaults
