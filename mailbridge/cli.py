"""The `mailbridge` command: parse arguments, load settings, call one thing, map errors
to exit codes (sysexits). The only module that exits the process."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

import parsers
from mailbridge import logging as mblogging
from mailbridge.clock import SystemClock
from mailbridge.errors import ConfigError, PolicyViolation, StoreUnavailable, UsageError
from mailbridge.settings import Settings, load_settings, parser_limits
from mailbridge.store import Store, open_store, upgrade
from mailbridge.store.models import (
    ArticleKind,
    IntakeRecord,
    IntakeStatus,
    OutboxMessage,
    OutboxStatus,
    Ticket,
)

EX_OK, EX_USAGE, EX_DATAERR, EX_TEMPFAIL, EX_CONFIG = 0, 64, 65, 75, 78

Command = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    mblogging.setup(args.log_level)
    handler: Command = args.handler
    try:
        settings = load_settings(args.config, os.environ)
        return handler(args, settings)
    except ConfigError as error:
        print(f"mailbridge: config error: {error}", file=sys.stderr)
        return EX_CONFIG
    except UsageError as error:
        print(f"mailbridge: {error}", file=sys.stderr)
        return EX_USAGE
    except StoreUnavailable as error:
        print(f"mailbridge: {error} (try again later)", file=sys.stderr)
        return EX_TEMPFAIL
    finally:
        while _OPENED:
            _OPENED.pop().dispose()


def _parser() -> argparse.ArgumentParser:
    # --config works before and after the command; the copy on each command
    # suppresses its default so it never overwrites a value given before it.
    def options(default: bool) -> argparse.ArgumentParser:
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument(
            "--config",
            metavar="PATH",
            default=os.environ.get("MAILBRIDGE_CONFIG") if default else argparse.SUPPRESS,
            help="TOML config file (default: $MAILBRIDGE_CONFIG, else embedded defaults)",
        )
        common.add_argument(
            "--log-level",
            default="INFO" if default else argparse.SUPPRESS,
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        )
        return common

    top = argparse.ArgumentParser(
        prog="mailbridge",
        parents=[options(default=True)],
        description="An email-driven IT service desk daemon.",
    )
    common = options(default=False)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add("run", _run, "run the daemon: SMTP receiver, worker, delivery")
    p = add("ingest", _ingest, "read one mail on stdin (for an MTA pipe); exit 75 to retry")
    p.add_argument("--queue", metavar="ADDRESS", help="the queue address this mail is for")
    p.add_argument(
        "--sender",
        metavar="ADDRESS",
        default=os.environ.get("SENDER", ""),
        help="envelope sender (default: $SENDER as Postfix sets it)",
    )
    p = add("parse", _parse, "print what the parser reads in a mail file")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true")
    p = add("tickets", _tickets, "list tickets")
    p.add_argument("--json", action="store_true")
    p = add("show", _show, "show one ticket with its articles")
    p.add_argument("ref")
    p.add_argument("--json", action="store_true")
    p = add("reply", _reply, "answer a ticket as an agent: mailed to requester and watchers")
    p.add_argument("ref")
    p.add_argument("--from", dest="agent", required=True, metavar="AGENT", help="agent address")
    _text_options(p)
    p = add("note", _note, "add an internal note (never mailed to the requester)")
    p.add_argument("ref")
    p.add_argument("--from", dest="agent", required=True, metavar="AGENT", help="agent address")
    _text_options(p)
    p = add("set", _set, "set status, owner or priority: set REF status=resolved owner=… ")
    p.add_argument("ref")
    p.add_argument("changes", nargs="+", metavar="FIELD=VALUE")
    p.add_argument("--by", metavar="AGENT", default="", help="who made the change (for history)")
    p = add("undeliverable", _undeliverable, "addresses our mail bounced from: list, or clear one")
    p.add_argument("action", choices=["list", "clear"])
    p.add_argument("address", nargs="?")
    p.add_argument("--json", action="store_true")
    p = add("quarantine", _quarantine, "list or retry quarantined mail")
    p.add_argument("action", choices=["list", "retry"])
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--json", action="store_true")
    p = add("outbox", _outbox, "list outbox mail that is pending or failed")
    p.add_argument("action", choices=["list"])
    p.add_argument("--all", action="store_true", help="include sent mail")
    p.add_argument("--json", action="store_true")
    p = add("imap", _imap, "the [[imap]] mailboxes: check them, or fetch once (for cron)")
    p.add_argument("action", choices=["check", "fetch"])
    p.add_argument("--once", action="store_true", help="with fetch: take what is there, exit")
    p = add("db", _db, "database schema: upgrade to the newest migration")
    p.add_argument("action", choices=["upgrade"])
    return top


def _text_options(p: argparse.ArgumentParser) -> None:
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the text")
    text.add_argument("--file", type=Path, help="read the text from this file (- for stdin)")


def _text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return str(args.text)
    if str(args.file) == "-":
        return sys.stdin.read()
    try:
        return str(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{args.file}: {error}") from None


def _agent_action(settings: Settings, act: Callable[..., list[Any]], *args: Any) -> int:
    """Run one agent action and its notifications in one transaction."""
    from mailbridge.ids import SecretsIds
    from mailbridge.signing import Signer
    from mailbridge.store.upsert import installation_secret
    from notifiers import Renderer, enqueue

    store = _store(settings)
    now = SystemClock().now()
    try:
        with store.transaction() as session:
            events = act(session, settings, *args, now)
            enqueue(
                session,
                events,
                settings=settings,
                renderer=Renderer(),
                ids=SecretsIds(),
                signer=Signer(installation_secret(session)),
                now=now,
            )
    except PolicyViolation as error:  # a forbidden transition: nothing was written
        print(f"mailbridge: {error}", file=sys.stderr)
        return EX_DATAERR
    return EX_OK


def _reply(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.engine.actions import reply

    code = _agent_action(settings, reply, args.ref, args.agent, _text(args))
    if code == EX_OK:
        print(f"{args.ref.upper()}: reply queued for the requester and watchers")
    return code


def _note(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.engine.actions import note

    code = _agent_action(settings, note, args.ref, args.agent, _text(args))
    if code == EX_OK:
        print(f"{args.ref.upper()}: internal note added")
    return code


def _set(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.engine.actions import parse_changes, set_fields

    changes = parse_changes(args.changes)
    by = args.by or os.environ.get("USER", "") or "command line"
    code = _agent_action(settings, set_fields, args.ref, changes, by)
    if code == EX_OK:
        done = " ".join(f"{c.field}={c.value}" for c in changes)
        print(f"{args.ref.upper()}: {done}")
    return code


# Stores a command opened; main() closes them, so a command run in process (tests,
# scripts) leaves no connection behind.
_OPENED: list[Store] = []


def _store(settings: Settings) -> Store:
    store = open_store(settings, migrate=True)
    _OPENED.append(store)
    return store


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.daemon import run

    run(settings)
    return EX_OK


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.adapters.pipe import ingest, read_stdin
    from mailbridge.ids import SecretsIds
    from mailbridge.store.spool import open_spool
    from mailbridge.worker import Worker

    recipients: tuple[str, ...] = ()
    if args.queue:
        if settings.queue_for(args.queue) is None:
            raise UsageError(f"--queue {args.queue}: no such queue in {settings.source}")
        recipients = (args.queue,)
    try:
        raw = read_stdin(sys.stdin.buffer, settings.smtp.max_message_size)
    except PolicyViolation as error:
        print(f"mailbridge: {error}", file=sys.stderr)
        return EX_DATAERR
    try:
        store = _store(settings)
    except ConfigError as error:
        # The MTA must keep the mail while the admin fixes the database.
        print(f"mailbridge: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    # The spool, like the SMTP receiver's: on SQLite a running daemon's worker
    # holds the main database's write lock for whole batches.
    spool = open_spool(store)
    if spool is not None:
        _OPENED.append(spool)
    record_id = ingest(
        spool or store, raw, sender=args.sender, recipients=recipients, clock=SystemClock()
    )
    # Committed: the MTA may forget the mail. Taking it into a ticket now is a
    # courtesy for installations without a running daemon; if it fails, the
    # daemon's worker takes the record later.
    try:
        worker = Worker(settings, store, clock=SystemClock(), ids=SecretsIds(), spool=spool)
        worker.move_spooled()
        worker.take_batch(only=[record_id])
        worker.record_sends()
    except StoreUnavailable:
        pass
    except Exception:  # committed: the MTA must not bounce it
        logging.getLogger(__name__).exception("ingest.take_failed", extra={"intake_id": record_id})
    return EX_OK


def _parse(args: argparse.Namespace, settings: Settings) -> int:
    try:
        raw = args.file.read_bytes()
    except OSError as error:
        raise UsageError(f"{args.file}: {error.strerror}") from None
    try:
        parsed = parsers.parse(raw, limits=parser_limits(settings))
    except parsers.Unparseable as error:
        print(f"mailbridge: {args.file}: not a mail: {error}", file=sys.stderr)
        return EX_DATAERR
    data = parsed.to_json()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")
    return EX_OK


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "ref": ticket.ref,
        "type": ticket.type.value,
        "status": ticket.status,
        "queue": ticket.queue,
        "subject": ticket.subject,
        "requester": ticket.requester,
        "owner": ticket.owner,
        "priority": ticket.priority,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


_DIRECTION = {
    ArticleKind.INBOUND_REPLY: "inbound",
    ArticleKind.OUTBOUND_REPLY: "outbound",
    ArticleKind.NOTIFICATION: "outbound",
    ArticleKind.INTERNAL_NOTE: "internal",
}


def _tickets(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    with store.transaction() as session:
        rows = [_ticket_json(t) for t in session.scalars(select(Ticket).order_by(Ticket.id))]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for row in rows:
            print(f"{row['ref']:<12} {row['status']:<10} {row['requester']:<30} {row['subject']}")
    return EX_OK


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.engine.threads import links_of, watchers_of

    store = _store(settings)
    with store.transaction() as session:
        ticket = session.scalar(
            select(Ticket)
            .where(Ticket.ref == args.ref.upper())
            .options(selectinload(Ticket.articles))
        )
        if ticket is None:
            raise UsageError(f"no ticket {args.ref}")
        data = _ticket_json(ticket)
        data["watchers"] = watchers_of(session, {ticket.id}).get(ticket.id, [])
        data["links"] = links_of(session, ticket.id)
        data["articles"] = [
            {
                "direction": _DIRECTION[a.kind],
                "kind": a.kind.value,
                "message_id": a.message_id,
                "from": a.sender,
                "subject": a.subject,
                "text": a.text,
                "thread_key": a.thread_key,
                "thread_note": a.thread_note,
                "created_at": _iso(a.created_at),
            }
            for a in ticket.articles
        ]
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return EX_OK
    print(f"{data['ref']}  [{data['type']}, {data['status']}]  {data['subject']}")
    print(f"queue {data['queue']}, requester {data['requester']}, opened {data['created_at']}")
    print(f"owner {data['owner'] or '-'}, priority {data['priority']}")
    if data["watchers"]:
        print(f"watchers {', '.join(data['watchers'])}")
    for link in data["links"]:
        print(f"{link['kind']} {link['ref']}")
    for article in data["articles"]:
        print(
            f"\n--- {article['direction']} {article['kind']} from {article['from']} "
            f"at {article['created_at']} ({article['thread_note'] or article['thread_key']})"
        )
        print(article["text"].rstrip())
    return EX_OK


def _undeliverable(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import delete

    from mailbridge.store.models import UndeliverableAddress

    store = _store(settings)
    if args.action == "clear":
        if not args.address:
            raise UsageError("undeliverable clear needs the ADDRESS shown by `undeliverable list`")
        with store.transaction() as session:
            gone = session.execute(
                delete(UndeliverableAddress).where(
                    UndeliverableAddress.address == args.address.strip().lower()
                )
            )
            if not getattr(gone, "rowcount", 0):
                raise UsageError(f"{args.address} is not marked undeliverable")
        print(f"{args.address}: mail to it is sent again")
        return EX_OK
    with store.transaction() as session:
        rows = [
            {"address": u.address, "since": _iso(u.since), "reason": u.reason}
            for u in session.scalars(
                select(UndeliverableAddress).order_by(UndeliverableAddress.since)
            )
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['address']:<40} {row['since']} {row['reason']}")
    return EX_OK


def _quarantine(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.engine.intake import retry_quarantined

    store = _store(settings)
    if args.action == "retry":
        if args.id is None:
            raise UsageError("quarantine retry needs the ID shown by `mailbridge quarantine list`")
        with store.transaction() as session:
            if not retry_quarantined(session, args.id):
                raise UsageError(f"intake record {args.id} is not in quarantine")
        print(f"intake record {args.id} queued again; the daemon's worker takes it next")
        return EX_OK
    with store.transaction() as session:
        rows = [
            {
                "id": r.id,
                "received_at": _iso(r.received_at),
                "adapter": r.adapter,
                "envelope_sender": r.envelope_sender,
                "message_id": r.message_id,
                "attempts": r.attempts,
                "reason": r.error,
                "bytes": len(r.raw),
            }
            for r in session.scalars(
                select(IntakeRecord)
                .where(IntakeRecord.status == IntakeStatus.QUARANTINED)
                .order_by(IntakeRecord.id)
            )
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['id']:>8} {row['received_at']} {row['adapter']:<5} {row['reason']}")
    return EX_OK


def _outbox(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if not args.all:
        query = query.where(OutboxMessage.status != OutboxStatus.SENT)
    with store.transaction() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "status": m.status.value,
                "kind": m.kind,
                "recipients": m.recipients,
                "message_id": m.message_id,
                "attempts": m.attempts,
                "next_attempt_at": _iso(m.next_attempt_at),
                "last_error": m.last_error,
                "created_at": _iso(m.created_at),
            }
            for m in session.scalars(query)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(
                f"{row['id']:>8} {row['status']:<8} {row['kind']:<16} "
                f"{','.join(row['recipients'])} attempts={row['attempts']} "
                f"{row['last_error'] or ''}"
            )
    return EX_OK


def _imap(args: argparse.Namespace, settings: Settings) -> int:
    from mailbridge.adapters import imap

    if not settings.imap:
        raise UsageError(f"no [[imap]] mailbox in {settings.source}")
    if args.action == "check":
        results = [imap.check(box) for box in settings.imap]
        for result in results:
            print(("ok    " if result.ok else "FAIL  ") + result.said)
        if any(r.refused for r in results):
            return EX_CONFIG  # a refused login needs the admin, not a retry
        return EX_OK if all(r.ok for r in results) else EX_TEMPFAIL
    if not args.once:
        raise UsageError("imap fetch needs --once (the daemon reads mailboxes all the time)")
    from mailbridge.ids import SecretsIds
    from mailbridge.store.spool import open_spool
    from mailbridge.worker import Worker

    store = _store(settings)
    spool = open_spool(store)
    if spool is not None:
        _OPENED.append(spool)
    failed = 0
    for box in settings.imap:
        poller = imap.MailboxPoller(
            box, settings, store=store, intake_store=spool or store, clock=SystemClock()
        )
        try:
            print(f"{box.key}: {poller.fetch_once()} new mails")
        except imap.MailboxError as error:
            print(f"mailbridge: {error}", file=sys.stderr)
            failed += 1
        except imap.CONNECTION_ERRORS as error:
            print(f"mailbridge: {box.key}: {' '.join(str(error).split())}", file=sys.stderr)
            failed += 1
    # No daemon may be running (cron): take the mail into tickets and send the answers.
    worker = Worker(settings, store, clock=SystemClock(), ids=SecretsIds(), spool=spool)
    worker.move_spooled()
    while worker.take_batch().taken:
        pass
    worker.deliver()
    return EX_TEMPFAIL if failed else EX_OK


def _db(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.database.url, lock_timeout=settings.database.lock_timeout)
    try:
        upgrade(store)
    except StoreUnavailable as error:
        raise ConfigError(
            "database.url",
            f"cannot connect ({error})",
            "check that the server runs and the URL is right",
            source=settings.source,
        ) from None
    print("database schema is current")
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
