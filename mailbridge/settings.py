"""Settings: the only reader of config files and of the environment.

One TOML file, then `MAILBRIDGE_<SECTION>_<KEY>` environment overrides, then
checks. Unknown keys and wrong types are refused by name, so a typo never
silently falls back to a default. Every other module takes the frozen slice it
needs; nothing reads a global.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mailbridge.errors import ConfigError

if TYPE_CHECKING:
    from parsers.limits import Limits

TicketTypeName = Literal["incident", "service_request", "problem", "change", "release"]
OutboundMode = Literal["maildir", "smtp"]
Priority = Literal["low", "normal", "high", "critical"]
PRIORITIES: tuple[Priority, ...] = typing.get_args(Priority)


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseSettings:
    url: str = "sqlite:///var/mailbridge.db"
    pool_size: int = 8
    lock_timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 2525
    max_message_size: int = 25 * 1024 * 1024
    hostname: str = "localhost"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundSettings:
    mode: OutboundMode = "maildir"
    maildir: str = "var/outbox"
    from_address: str = "helpdesk@localhost"
    relay_host: str = "127.0.0.1"
    relay_port: int = 25
    starttls: bool = False
    user: str = ""
    password: str = ""
    timeout: float = 30.0
    max_attempts: int = 20
    # Temporary failures retry with backoff until a mail is this old, then it fails.
    max_age_hours: float = 120.0
    # RFC 3834 rate limit: automatic mails (acknowledgements, notices) one address
    # may get from us in an hour, whatever the conversation.
    automatic_per_hour: int = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeSettings:
    batch_size: int = 100
    max_attempts: int = 3
    poll_interval: float = 1.0
    worker: Literal["process", "thread"] = "process"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParserSettings:
    """What one mail may cost the parser (parsers.Limits); past a limit the mail
    is still taken, with a defect naming the limit, never a crash."""

    max_size: int = 26 * 1024 * 1024  # bytes read of one mail (SMTP refuses more anyway)
    max_depth: int = 20  # MIME nesting
    max_parts: int = 500  # MIME parts
    max_header_bytes: int = 256 * 1024  # the header section
    max_html_bytes: int = 1024 * 1024  # HTML sanitised and turned into text
    max_text_bytes: int = 1024 * 1024  # plain body text kept


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSettings:
    """How a conversation goes on after the first mail (issue 5)."""

    reopen_window_days: float = (
        14.0  # a reply to a closed ticket reopens it; later, a new linked one
    )
    auto_close_days: float = 7.0  # a resolved ticket closes itself unless the requester replies
    pending_reminder_days: float = 3.0  # a pending ticket reminds the requester once


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings:
    address: str
    type: TicketTypeName = "incident"
    prefix: str = "INC"
    name: str = "Help desk"  # shown as the sender's name and in templates
    language: str = "en"  # notifications, when the requester's mail does not tell
    priority: Priority = "normal"  # of a new ticket


ImapTls = Literal["implicit", "starttls", "none"]
ImapAfter = Literal["move", "flag", "delete"]
ImapSince = Literal["all", "new"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapSettings:
    """One mailbox read as intake (issue 6). Secrets come from exactly one of
    password, password_file, password_env or oauth2_token_command, and are never
    logged (`repr` hides them)."""

    host: str
    port: int = 0  # 0: 993 for implicit TLS, else 143
    tls: ImapTls = "implicit"
    user: str
    password: str = field(default="", repr=False)
    password_file: str = ""
    password_env: str = ""
    oauth2_token_command: str = ""  # prints an access token: XOAUTH2 (Microsoft 365, Gmail)
    ca_file: str = ""  # PEM file of the CA to trust (a private one); empty: the system's
    folder: str = "INBOX"
    queue: str  # the queue address this mailbox feeds
    after: ImapAfter = "move"
    processed_folder: str = "Processed"
    poll_interval: float = 60.0  # seconds; also the longest IDLE before a fresh look
    since: ImapSince = "new"  # "new": mail already there when first connected is left alone
    batch_size: int = 50
    timeout: float = 30.0

    @property
    def server_port(self) -> int:
        return self.port or (993 if self.tls == "implicit" else 143)

    @property
    def key(self) -> str:
        """Names the mailbox in logs, state and locks (never the secret)."""
        return f"{self.user}@{self.host}:{self.server_port}/{self.folder}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    """Someone who works tickets: their mail to a ticket is a public reply."""

    address: str
    name: str = ""
    queues: tuple[str, ...] = ()  # queue addresses; none means every queue

    def works(self, queue: str) -> bool:
        return not self.queues or queue.lower() in (q.lower() for q in self.queues)


def _default_queues() -> tuple[QueueSettings, ...]:
    return (QueueSettings(address="helpdesk@localhost", type="incident", prefix="INC"),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    parser: ParserSettings = field(default_factory=ParserSettings)
    tickets: TicketSettings = field(default_factory=TicketSettings)
    queues: tuple[QueueSettings, ...] = field(default_factory=_default_queues)
    agents: tuple[AgentSettings, ...] = ()
    imap: tuple[ImapSettings, ...] = ()
    source: str = "<embedded defaults>"

    def queue_for(self, address: str) -> QueueSettings | None:
        """Return the queue served at this address (case-insensitive), if any.

        A sub-address (`helpdesk+TOKEN@domain`, our reply and bounce addresses)
        belongs to the queue at its base address.
        """
        wanted = address.strip().lower()
        local, at, domain = wanted.rpartition("@")
        base = f"{local.partition('+')[0]}{at}{domain}"
        for candidate in dict.fromkeys((wanted, base)):
            for queue in self.queues:
                if queue.address.lower() == candidate:
                    return queue
        return None

    def agent(self, address: str | None, queue: str | None = None) -> AgentSettings | None:
        """The configured agent with this address (working this queue, if given)."""
        if not address:
            return None
        wanted = address.strip().lower()
        for agent in self.agents:
            if agent.address.lower() == wanted and (queue is None or agent.works(queue)):
                return agent
        return None

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are us: mail from them is never answered."""
        own = {q.address.lower() for q in self.queues}
        own.add(self.outbound.from_address.lower())
        return frozenset(own)


def parser_limits(settings: Settings) -> Limits:
    """The parser's limits as configured in [parser]."""
    # Imported here: loading a config must not load the whole parser (and nh3).
    from parsers.limits import Limits

    return Limits(**dataclasses.asdict(settings.parser))


_SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseSettings,
    "smtp": SmtpSettings,
    "outbound": OutboundSettings,
    "intake": IntakeSettings,
    "parser": ParserSettings,
    "tickets": TicketSettings,
}

ENV_PREFIX = "MAILBRIDGE_"


def load_settings(path: str | Path | None, environ: Mapping[str, str]) -> Settings:
    """Read the TOML file (or nothing: embedded defaults), apply env overrides, check.

    Raises ConfigError naming the file, the key and the fix.
    """
    source = str(path) if path is not None else "<embedded defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(
                "--config", f"no such file {path}", "give the path of a TOML file", source=source
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("(syntax)", str(exc), "fix the TOML syntax", source=source) from None
    data = _apply_env(data, environ, source)
    return _build_settings(data, source)


def _apply_env(data: dict[str, Any], environ: Mapping[str, str], source: str) -> dict[str, Any]:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            continue  # not ours (MAILBRIDGE_TEST_..., MAILBRIDGE_CONFIG)
        key = rest[len(section) + 1 :]
        names = {f.name: f for f in dataclasses.fields(_SECTIONS[section])}
        if key not in names:
            raise ConfigError(
                f"{section}.{key}",
                f"unknown key (from environment variable {name})",
                f"known keys: {', '.join(sorted(names))}",
                source=source,
            )
        hint = typing.get_type_hints(_SECTIONS[section])[key]
        merged.setdefault(section, {})[key] = _from_env_text(raw, hint, f"{section}.{key}", source)
    return merged


def _from_env_text(raw: str, hint: Any, key: str, source: str) -> Any:
    if hint is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(key, f"{raw!r} is not a boolean", "use true or false", source=source)
    for kind in (int, float):
        if hint is kind:
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(
                    key, f"{raw!r} is not a {kind.__name__}", "use a number", source=source
                ) from None
    return raw


def _build_settings(data: dict[str, Any], source: str) -> Settings:
    known = {*_SECTIONS, "queues", "agents", "imap"}
    for top in data:
        if top not in known:
            raise ConfigError(
                top, "unknown section", f"known sections: {', '.join(sorted(known))}", source=source
            )
    kwargs: dict[str, Any] = {"source": source}
    for name, cls in _SECTIONS.items():
        if name in data:
            section = data[name]
            if not isinstance(section, dict):
                raise ConfigError(name, "is not a table", f"write it as [{name}]", source=source)
            kwargs[name] = _build(cls, section, name, source)
    if "queues" in data:
        queues = data["queues"]
        if not isinstance(queues, list) or not all(isinstance(q, dict) for q in queues):
            raise ConfigError("queues", "is not an array of tables", "write [[queues]]", source)
        kwargs["queues"] = tuple(
            _build(QueueSettings, q, f"queues[{i}]", source) for i, q in enumerate(queues)
        )
    for name, cls in (("agents", AgentSettings), ("imap", ImapSettings)):
        if name in data:
            tables = data[name]
            if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
                raise ConfigError(name, "is not an array of tables", f"write [[{name}]]", source)
            kwargs[name] = tuple(
                _build(cls, t, f"{name}[{i}]", source) for i, t in enumerate(tables)
            )
    settings = Settings(**kwargs)
    _check(settings)
    return settings


def _build(cls: type[Any], table: dict[str, Any], where: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(
                f"{where}.{key}",
                "unknown key",
                f"known keys: {', '.join(sorted(fields))}",
                source=source,
            )
        _check_type(value, hints[key], f"{where}.{key}", source)
        if isinstance(value, list):
            table = {**table, key: tuple(value)}
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in table:
            raise ConfigError(f"{where}.{name}", "is missing", "this key is required", source)
    return cls(**table)


def _check_type(value: Any, hint: Any, key: str, source: str) -> None:
    origin = typing.get_origin(hint)
    if origin is tuple:  # tuple[str, ...]: a TOML array of strings
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"{value!r} has the wrong type", "use a list of strings", source)
        return
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            choices = " or ".join(repr(a) for a in allowed)
            raise ConfigError(key, f"{value!r} is not allowed", f"use {choices}", source=source)
        return
    if origin in (types.UnionType, typing.Union):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    # bool is an int in Python; TOML keeps them apart, and so do we.
    ok = (
        isinstance(value, bool)
        if hint is bool
        else (isinstance(value, int | float) and not isinstance(value, bool))
        if hint is float
        else isinstance(value, hint) and not isinstance(value, bool)
    )
    if not ok:
        name = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
        want = name.get(hint, getattr(hint, "__name__", str(hint)))
        raise ConfigError(key, f"{value!r} has the wrong type", f"use {want}", source=source)


def _check(settings: Settings) -> None:
    src = settings.source
    if not 0 <= settings.smtp.port <= 65535:
        raise ConfigError("smtp.port", f"{settings.smtp.port} is not a port", "use 1-65535", src)
    if settings.smtp.max_message_size < 1024:
        raise ConfigError(
            "smtp.max_message_size", "is too small", "use bytes, e.g. 26214400 for 25 MB", src
        )
    if not settings.queues:
        raise ConfigError("queues", "no queue is configured", "add one [[queues]] table", src)
    seen: set[str] = set()
    for i, queue in enumerate(settings.queues):
        if "@" not in queue.address or any(c.isspace() for c in queue.address):
            raise ConfigError(
                f"queues[{i}].address",
                f"{queue.address!r} is not an address",
                "use user@domain",
                src,
            )
        if queue.address.lower() in seen:
            raise ConfigError(f"queues[{i}].address", "is listed twice", "remove one", src)
        seen.add(queue.address.lower())
        # Letters and digits, a letter first, 2 to 10 of them: what the subject tag
        # reader (parsers.threadkeys) and the reply tokens (signing) recognise.
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", queue.prefix):
            raise ConfigError(
                f"queues[{i}].prefix",
                f"{queue.prefix!r} is not a ref prefix",
                "use 2-10 upper-case letters and digits, a letter first, e.g. INC",
                src,
            )
    agents: set[str] = set()
    for i, agent in enumerate(settings.agents):
        if "@" not in agent.address or any(c.isspace() for c in agent.address):
            raise ConfigError(f"agents[{i}].address", "is not an address", "use user@domain", src)
        if agent.address.lower() in agents:
            raise ConfigError(f"agents[{i}].address", "is listed twice", "remove one", src)
        if agent.address.lower() in seen:
            raise ConfigError(
                f"agents[{i}].address", "is a queue address", "agents are people, not queues", src
            )
        agents.add(agent.address.lower())
        for address in agent.queues:
            if address.lower() not in seen:
                raise ConfigError(
                    f"agents[{i}].queues",
                    f"{address!r} is not a queue",
                    "list [[queues]] addresses",
                    src,
                )
    _check_imap(settings)
    if "@" not in settings.outbound.from_address:
        raise ConfigError("outbound.from_address", "is not an address", "use user@domain", src)
    for limit in dataclasses.fields(ParserSettings):
        if getattr(settings.parser, limit.name) < 1:
            raise ConfigError(f"parser.{limit.name}", "must be >= 1", "use 1 or more", src)
    for name in ("reopen_window_days", "auto_close_days", "pending_reminder_days"):
        if getattr(settings.tickets, name) <= 0:
            raise ConfigError(f"tickets.{name}", "must be more than 0", "use days, e.g. 14", src)
    if settings.outbound.automatic_per_hour < 0 or settings.outbound.max_age_hours <= 0:
        raise ConfigError(
            "outbound",
            "automatic_per_hour must be >= 0 and max_age_hours > 0",
            "use e.g. 10 and 120",
            src,
        )
    if settings.intake.batch_size < 1 or settings.intake.max_attempts < 1:
        raise ConfigError(
            "intake", "batch_size and max_attempts must be >= 1", "use 1 or more", src
        )


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _check_imap(settings: Settings) -> None:
    src = settings.source
    keys: set[str] = set()
    for i, box in enumerate(settings.imap):
        where = f"imap[{i}]"
        secrets = [
            k
            for k in ("password", "password_file", "password_env", "oauth2_token_command")
            if getattr(box, k)
        ]
        if len(secrets) != 1:
            raise ConfigError(
                where,
                f"has {len(secrets)} secrets ({', '.join(secrets) or 'none'})",
                "give exactly one of password, password_file, password_env, oauth2_token_command",
                src,
            )
        if box.tls == "none" and box.host not in _LOOPBACK:
            raise ConfigError(
                f"{where}.tls",
                f'"none" sends the password in clear to {box.host}',
                'use "implicit" or "starttls" (plain IMAP is allowed on loopback only)',
                src,
            )
        if settings.queue_for(box.queue) is None:
            raise ConfigError(
                f"{where}.queue", f"{box.queue!r} is not a queue", "use a [[queues]] address", src
            )
        if not 0 <= box.port <= 65535 or box.batch_size < 1 or box.poll_interval <= 0:
            raise ConfigError(
                where,
                "port, batch_size or poll_interval is out of range",
                "use a port, >= 1, > 0",
                src,
            )
        if box.after == "move" and not box.processed_folder.strip():
            raise ConfigError(
                f"{where}.processed_folder", "is empty", 'name a folder, e.g. "Processed"', src
            )
        if box.key in keys:
            raise ConfigError(where, f"{box.key} is listed twice", "remove one", src)
        keys.add(box.key)
