"""The database: typed models, sessions, and migrations for SQLite and PostgreSQL."""

from mailbridge.store.session import Store, upgrade

__all__ = ["Store", "upgrade"]
