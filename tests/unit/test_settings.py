"""Configuration: defaults, the TOML file, environment overrides, and errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailbridge.errors import ConfigError
from mailbridge.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "mailbridge.example.toml"


def test_embedded_defaults_without_a_file() -> None:
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite:///var/mailbridge.db"
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 2525)
    assert settings.smtp.max_message_size == 26214400
    assert settings.outbound.mode == "maildir"
    assert settings.outbound.maildir == "var/outbox"
    [queue] = settings.queues
    assert (queue.address, queue.type, queue.prefix) == ("helpdesk@localhost", "incident", "INC")


def test_example_file_runs_as_is_and_equals_the_defaults() -> None:
    settings = load_settings(EXAMPLE, {})
    assert settings.source == str(EXAMPLE)
    defaults = load_settings(None, {})
    for section in ("database", "smtp", "outbound", "intake", "queues"):
        assert getattr(settings, section) == getattr(defaults, section), section


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    for section in ("database", "smtp", "outbound", "intake", "parser", "tickets"):
        for name in getattr(Settings(), section).__dataclass_fields__:
            assert f"\n{name} = " in text, f"{section}.{name} is not in the example config"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[smtp]\nport = 2700\n[outbound]\nstarttls = false\n")
    settings = load_settings(
        path,
        {
            "MAILBRIDGE_SMTP_PORT": "2600",
            "MAILBRIDGE_OUTBOUND_STARTTLS": "true",
            "MAILBRIDGE_TEST_DATABASE_URL": "ignored: not a section of ours",
        },
    )
    assert settings.smtp.port == 2600
    assert settings.outbound.starttls is True


def test_queues_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[[queues]]\naddress = "it@example.org"\ntype = "incident"\nprefix = "INC"\n'
        '[[queues]]\naddress = "Changes@example.org"\ntype = "change"\nprefix = "CHG"\n'
    )
    settings = load_settings(path, {})
    queue = settings.queue_for("changes@EXAMPLE.org")
    assert queue is not None
    assert queue.prefix == "CHG"
    assert settings.queue_for("nobody@example.org") is None


@pytest.mark.parametrize(
    ("content", "env", "key", "fix"),
    [
        ("[smtp]\nprot = 25\n", {}, "smtp.prot", "known keys"),
        ('[smtp]\nport = "x"\n', {}, "smtp.port", "use an integer"),
        ("[smtp]\nport = 99999\n", {}, "smtp.port", "use 1-65535"),
        ("[smpt]\nport = 25\n", {}, "smpt", "known sections"),
        ('[outbound]\nmode = "pigeon"\n', {}, "outbound.mode", "'maildir' or 'smtp'"),
        ('[[queues]]\naddress = "x@y"\ntype = "incidnet"\n', {}, "queues[0].type", "use"),
        ('[[queues]]\ntype = "incident"\n', {}, "queues[0].address", "required"),
        ('[[queues]]\naddress = "x@y"\nprefix = "inc"\n', {}, "queues[0].prefix", "INC"),
        ("", {"MAILBRIDGE_SMTP_PORT": "many"}, "smtp.port", "use a number"),
        ("", {"MAILBRIDGE_SMTP_PROT": "25"}, "smtp.prot", "MAILBRIDGE_SMTP_PROT"),
        ("[smtp\n", {}, "(syntax)", "fix the TOML syntax"),
        ("[parser]\nmax_parts = 0\n", {}, "parser.max_parts", "use 1 or more"),
        ("[parser]\nmax_nesting = 5\n", {}, "parser.max_nesting", "max_depth"),
    ],
)
def test_bad_config_names_file_key_and_fix(
    tmp_path: Path, content: str, env: dict[str, str], key: str, fix: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert fix in message
    assert "\n" not in message


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbridge.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_cli_exits_78_with_one_line_on_a_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[smtp]\nport = 'abc'\n")
    result = _cli("--config", str(path), "tickets", cwd=tmp_path)
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert "smtp.port" in lines[0]


def test_cli_exits_78_when_the_database_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "unreachable.toml"
    # A port nothing listens on, on loopback.
    path.write_text(
        '[database]\nurl = "postgresql+psycopg://u:secretpw@127.0.0.1:9/x"\nlock_timeout = 1.0\n'
    )
    result = _cli("--config", str(path), "tickets", cwd=tmp_path)
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "database.url" in lines[0]
    assert str(path) in lines[0]
    assert "secretpw" not in result.stderr


IMAP = """
[[queues]]
address = "helpdesk@example.org"

[[imap]]
host = "{host}"
tls = "{tls}"
user = "desk"
queue = "{queue}"
{secrets}
"""


def _imap(tmp_path: Path, **kw: str) -> Settings:
    values = {"host": "imap.example.org", "tls": "implicit", "queue": "helpdesk@example.org"}
    values["secrets"] = 'password_env = "IMAP_PW"'
    values.update(kw)
    path = tmp_path / "imap.toml"
    path.write_text(IMAP.format(**values))
    return load_settings(path, {})


def test_imap_mailboxes_and_agents_from_the_file(tmp_path: Path) -> None:
    settings = _imap(tmp_path, secrets='password = "s3cret"')
    [box] = settings.imap
    assert (box.server_port, box.folder, box.after, box.since) == (993, "INBOX", "move", "new")
    assert box.key == "desk@imap.example.org:993/INBOX"
    assert "s3cret" not in repr(settings)  # secrets never reach a log line
    path = tmp_path / "agents.toml"
    path.write_text(
        '[[queues]]\naddress = "helpdesk@example.org"\n'
        '[[agents]]\naddress = "Agnes@Example.org"\nname = "Agnes"\n'
        'queues = ["helpdesk@example.org"]\n'
    )
    agents = load_settings(path, {})
    assert agents.agent("agnes@example.org", "HELPDESK@example.org") is not None
    assert agents.agent("agnes@example.org", "other@example.org") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secrets": 'password = "a"\npassword_env = "B"'}, "exactly one of"),
        ({"secrets": ""}, "exactly one of"),
        ({"tls": "none"}, "plain IMAP is allowed on loopback only"),
        ({"queue": "other@example.org"}, "is not a queue"),
        ({"tls": "ssl"}, "'ssl' is not allowed"),
    ],
)
def test_bad_imap_tables_are_refused_by_name(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _imap(tmp_path, **change)
    assert _imap(tmp_path, tls="none", host="127.0.0.1").imap[0].server_port == 143
