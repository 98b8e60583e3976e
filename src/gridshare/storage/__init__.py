"""Storage adapter: SQLite by default, PostgreSQL by URL; Alembic migrations."""

from gridshare.storage.store import SqlStore, StorageError, default_sqlite_url, open_store

__all__ = ["SqlStore", "StorageError", "default_sqlite_url", "open_store"]
