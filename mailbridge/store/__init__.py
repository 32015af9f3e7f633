"""The database: typed models, sessions, and migrations for SQLite and PostgreSQL."""

from mailbridge.store.session import Store, open_store, upgrade

__all__ = ["Store", "open_store", "upgrade"]
