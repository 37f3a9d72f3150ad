"""Persistence: SQLAlchemy entities, the Database (sessions, migrations)."""

from app.storage.db import Database, open_database

__all__ = ["Database", "open_database"]
