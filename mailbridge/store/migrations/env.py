"""Alembic environment: runs migrations on the engine mailbridge hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

engine = context.config.attributes.get("connection_engine")
if not isinstance(engine, Engine):  # pragma: no cover - only via mailbridge.store.upgrade
    raise TypeError("run migrations through `mailbridge db upgrade`")

with engine.connect() as connection:
    context.configure(connection=connection, render_as_batch=True, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
