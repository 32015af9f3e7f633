"""Engines and transactions, with database failures translated into ours.

SQLite runs in WAL mode with synchronous=FULL (a commit survives power loss)
and takes the write lock at BEGIN (BEGIN IMMEDIATE): a deferred transaction
that reads and then writes can fail with "database is locked" at once instead
of waiting, which under concurrent writers would turn into spurious 451s.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailbridge.errors import ConfigError, StoreUnavailable
from mailbridge.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")

# What "the database is not there right now" looks like through SQLAlchemy.
UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def redacted(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (exc.ArgumentError, ValueError):
        return "<unparseable database url>"


def make_engine(url: str, *, pool_size: int = 8, lock_timeout: float = 10.0) -> Engine:
    """Create an engine tuned for our use of each backend."""
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):
        # Not echoed: a mistyped URL still carries the password.
        raise ConfigError(
            "database.url",
            "is not a database URL",
            "use sqlite:///PATH or postgresql+psycopg://…",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            # No busy handler in SQLite itself: its sleeps grow to 100 ms while the
            # lock sits free; _begin_immediate polls at sub-millisecond steps.
            connect_args={"timeout": 0, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _tune_sqlite(engine, lock_timeout)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=lock_timeout,
            connect_args={"connect_timeout": max(1, int(lock_timeout))},
        )
    raise ConfigError(
        "database.url",
        f"backend {parsed.get_backend_name()!r} is not supported",
        "use sqlite or postgresql",
    )


def _tune_sqlite(engine: Engine, lock_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us, not pysqlite, issue BEGIN (pysqlite's own BEGIN is deferred and
        # breaks SAVEPOINT); see SQLAlchemy "Serializable isolation / Savepoints".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        _retry_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"), lock_timeout)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = "BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
        _retry_locked(lambda: connection.exec_driver_sql(mode), lock_timeout)


READ_ONLY = "mailbridge_read_only"


def _retry_locked(statement: Callable[[], object], timeout: float) -> None:
    """Run a statement that takes SQLite's lock, retrying while another writer holds it.

    Only statements that take the lock before doing anything (BEGIN IMMEDIATE,
    the journal-mode switch) are retried, so nothing runs twice.
    """
    deadline = time.monotonic() + timeout
    pause = 0.0002
    while True:
        try:
            statement()
        except (exc.OperationalError, sqlite3.OperationalError) as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() + pause > deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.002)


class Store:
    """The database of one installation: an engine and transactions on it."""

    def __init__(self, url: str, *, pool_size: int = 8, lock_timeout: float = 10.0) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self.engine = make_engine(url, pool_size=pool_size, lock_timeout=lock_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error.

        Raises StoreUnavailable when the database cannot be reached or locked,
        so callers answer 451 / exit 75 instead of treating it as a bug.
        """
        with self.unavailable_as_ours(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core transaction, for the hot path where the ORM's bookkeeping costs
        more than the statement (committing received mail)."""
        with self.unavailable_as_ours(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not take the write lock,
        so receivers committing mail are not held up by it."""
        bind = self.engine.execution_options(**{READ_ONLY: True})
        with (
            self.unavailable_as_ours(),
            Session(bind, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def unavailable_as_ours(self) -> Iterator[None]:
        """Translate SQLAlchemy's "cannot reach / cannot lock" into StoreUnavailable."""
        try:
            yield
        except UNAVAILABLE as error:
            raise StoreUnavailable(
                f"database {redacted(self.url)}: {_first_line(error)}"
            ) from error

    def check(self) -> None:
        """Connect once; raise StoreUnavailable if we cannot."""
        with self.unavailable_as_ours(), self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _alembic_config(store: Store) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_engine"] = store.engine
    return config


def is_at_head(store: Store) -> bool:
    """Whether the database's schema is at the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_alembic_config(store)).get_heads())
    with store.unavailable_as_ours(), store.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def upgrade(store: Store, revision: str = "head") -> None:
    """Apply the Alembic migrations up to `revision` on this store's database."""
    from alembic import command

    with store.unavailable_as_ours():
        command.upgrade(_alembic_config(store), revision)


def open_store(settings: Settings, *, migrate: bool) -> Store:
    """Connect and make sure the schema is current; raise ConfigError when we cannot.

    SQLite migrates itself when `migrate` is set (a single-node install should
    just run); PostgreSQL waits for an explicit `mailbridge db upgrade`, since
    several nodes may share it and a migration is an admin's decision.
    """
    store = Store(
        settings.database.url,
        pool_size=settings.database.pool_size,
        lock_timeout=settings.database.lock_timeout,
    )
    try:
        store.check()
        if migrate and store.is_sqlite:
            upgrade(store)
        elif not is_at_head(store):
            raise ConfigError(
                "database.url",
                f"the schema of {redacted(store.url)} is not current",
                "run `mailbridge db upgrade`",
                source=settings.source,
            )
    except StoreUnavailable as error:
        store.dispose()
        raise ConfigError(
            "database.url",
            f"cannot connect ({error})",
            "check that the server runs and the URL, user and password are right",
            source=settings.source,
        ) from None
    return store
