"""INSERT … ON CONFLICT DO NOTHING on both backends, and the installation's secret."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbridge.store.models import Base, Installation


def insert_missing(
    session: Session, model: type[Base], rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert the rows whose `keys` are not taken yet; leave the others as they are."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(model).on_conflict_do_nothing(index_elements=keys), rows)


def installation_secret(session: Session) -> str:
    """The secret that signs reply tokens; created by migration 0002, never logged."""
    secret = session.scalar(select(Installation.secret).where(Installation.id == 1))
    if secret is None:  # pragma: no cover - the migration inserts it
        raise RuntimeError("the installation row is missing: run `mailbridge db upgrade`")
    return secret
