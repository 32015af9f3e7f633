"""`mailbridge ingest` for MTA pipes and the reading commands, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from mailbridge.cli import EX_DATAERR, main
from mailbridge.settings import Settings
from tests.support.corpus import corpus_mails, require_corpus
from tests.support.corpus_score import NOT_MAIL, name_of
from tests.support.mails import compose, maildir_messages
from tests.support.proxy import proxy_to


def _config(settings: Settings, tmp_path: Path, url: str | None = None) -> Path:
    path = tmp_path / "mailbridge.toml"
    queues = "".join(
        f'[[queues]]\naddress = "{q.address}"\ntype = "{q.type}"\nprefix = "{q.prefix}"\n'
        for q in settings.queues
    )
    path.write_text(
        f'[database]\nurl = "{url or settings.database.url}"\nlock_timeout = 1.0\n'
        f'[outbound]\nmaildir = "{settings.outbound.maildir}"\n'
        f'from_address = "{settings.outbound.from_address}"\n' + queues
    )
    return path


def _mailbridge(config: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mailbridge.cli", "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
        cwd=config.parent,
    )


def _json(config: Path, *args: str) -> Any:
    result = _mailbridge(config, *args, "--json")
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_ingest_commits_and_opens_a_ticket(settings: Settings, tmp_path: Path) -> None:
    config = _config(settings, tmp_path)
    raw = compose(message_id="<pipe@example.org>", subject="VPN down").encode()
    result = _mailbridge(
        config,
        "ingest",
        "--queue",
        "requests@example.org",
        "--sender",
        "alice@example.org",
        stdin=raw,
    )
    assert result.returncode == 0, result.stderr.decode()
    [ticket] = _json(config, "tickets")
    assert ticket["ref"] == "REQ-1001"
    assert ticket["type"] == "service_request"
    shown = _json(config, "show", "REQ-1001")
    assert isinstance(shown, dict)
    assert set(shown) >= {
        "ref",
        "type",
        "status",
        "queue",
        "subject",
        "requester",
        "created_at",
        "articles",
    }
    inbound = shown["articles"][0]
    assert set(inbound) >= {"direction", "message_id", "from", "text", "created_at"}
    assert (inbound["direction"], inbound["message_id"], inbound["from"]) == (
        "inbound",
        "<pipe@example.org>",
        "alice@example.org",
    )
    assert shown["articles"][1]["direction"] == "outbound"
    # Without a daemon running, ingest delivers the acknowledgement itself, once.
    assert _json(config, "outbox", "list") == []
    [sent] = _json(config, "outbox", "list", "--all")
    assert (sent["status"], sent["recipients"], sent["attempts"]) == (
        "sent",
        ["alice@example.org"],
        1,
    )
    assert len(maildir_messages(settings.outbound.maildir)) == 1


def test_ingest_without_queue_follows_the_to_header(settings: Settings, tmp_path: Path) -> None:
    config = _config(settings, tmp_path)
    raw = compose(message_id="<to@example.org>", to="Requests <requests@example.org>").encode()
    assert _mailbridge(config, "ingest", stdin=raw).returncode == 0
    [ticket] = _json(config, "tickets")
    assert ticket["queue"] == "requests@example.org"


def test_garbage_is_quarantined_with_its_reason_and_can_be_retried(
    settings: Settings, tmp_path: Path
) -> None:
    config = _config(settings, tmp_path)
    result = _mailbridge(config, "ingest", stdin=b"\x00\x01 this is not a mail \xff")
    assert result.returncode == 0, "kept (committed), so the MTA may forget it"
    [entry] = _json(config, "quarantine", "list")
    assert "unparseable" in entry["reason"]
    assert entry["bytes"] == len(b"\x00\x01 this is not a mail \xff")
    retried = _mailbridge(config, "quarantine", "retry", str(entry["id"]))
    assert retried.returncode == 0
    assert _json(config, "quarantine", "list") == []
    again = _mailbridge(config, "quarantine", "retry", str(entry["id"]))
    assert again.returncode == 64
    assert b"not in quarantine" in again.stderr


def test_ingest_exits_75_when_it_cannot_commit(settings: Settings, tmp_path: Path) -> None:
    url = make_url(settings.database.url)
    raw = compose(message_id="<later@example.org>").encode()
    if url.get_backend_name() == "sqlite":
        # A directory where the database file should be: nothing can be committed.
        blocked = tmp_path / "blocked.db"
        blocked.mkdir()
        config = _config(settings, tmp_path, url=f"sqlite:///{blocked}")
        result = _mailbridge(config, "ingest", stdin=raw)
    else:
        with proxy_to(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxy.cut()
            down = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            config = _config(settings, tmp_path, url=down)
            result = _mailbridge(config, "ingest", stdin=raw)
    assert result.returncode == 75, result.stderr.decode()
    assert len(result.stderr.decode().strip().splitlines()) == 1


def test_ingest_refuses_mail_over_the_size_limit(settings: Settings, tmp_path: Path) -> None:
    config = _config(settings, tmp_path)
    config.write_text(config.read_text() + "[smtp]\nmax_message_size = 2048\n")
    result = _mailbridge(config, "ingest", stdin=b"Subject: x\n\n" + b"x" * 4096)
    assert result.returncode == 65
    assert _json(config, "tickets") == []


def test_show_unknown_ref_is_a_usage_error(settings: Settings, tmp_path: Path) -> None:
    config = _config(settings, tmp_path)
    result = _mailbridge(config, "show", "INC-9999")
    assert result.returncode == 64
    assert b"no ticket INC-9999" in result.stderr


@pytest.mark.parametrize("fixture", ["rfc2822__example01.eml"])
def test_parse_prints_the_parsed_mail_as_json(tmp_path: Path, fixture: str) -> None:
    corpus = require_corpus() / "mikel-mail" / fixture
    result = subprocess.run(
        [sys.executable, "-m", "mailbridge.cli", "parse", str(corpus), "--json"],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    expected = json.loads(corpus.with_suffix(".json").read_text())
    assert data["sender"] == expected["from"]
    for key in (
        "message_id",
        "in_reply_to",
        "references",
        "subject",
        "sender",
        "sender_name",
        "reply_to",
        "to",
        "cc",
        "date",
        "language",
        "text",
        "full_text",
        "html",
        "attachments",
        "classification",
        "bounced_recipients",
        "thread_keys",
        "defects",
    ):
        assert key in data, key


def test_parse_works_on_every_file_of_the_corpus(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """In process (a subprocess each would take minutes): exit 0 and one JSON document
    per mail, 65 with one line for the file that is not a mail."""
    require_corpus()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)
    for path in corpus_mails():
        code = main(["parse", str(path), "--json"])
        out, err = capsys.readouterr()
        if name_of(path) in NOT_MAIL:
            assert code == EX_DATAERR, path
            assert "not a mail" in err
            continue
        assert code == 0, (path, err)
        assert json.loads(out)["subject"] is not None, path


def test_parse_honours_the_configured_parser_limits(tmp_path: Path) -> None:
    """[parser] limits reach the parser: past max_parts the mail still parses, with a
    defect naming the limit."""
    parts = "".join(f"--b\nContent-Type: text/plain\n\npart {n}\n" for n in range(5))
    mail = tmp_path / "parts.eml"
    mail.write_text(
        "From: a@example.org\nSubject: parts\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="b"\n\n{parts}--b--\n'
    )
    config = tmp_path / "m.toml"
    for limit, cut in ((500, False), (3, True)):
        config.write_text(f"[parser]\nmax_parts = {limit}\n")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mailbridge.cli",
                "--config",
                str(config),
                "parse",
                str(mail),
                "--json",
            ],
            capture_output=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr.decode()
        defects = json.loads(result.stdout)["defects"]
        assert any(d.startswith("max_parts") for d in defects) is cut, defects
