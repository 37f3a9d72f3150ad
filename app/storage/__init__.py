"""Persistence: SQLAlchemy entities, the Database (sessions, migrations).

`Database` is loaded on first use, so `app.storage.vocabulary` imports without SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.storage.db import Database, open_database

__all__ = ["Database", "open_database"]


def __getattr__(name: str):
    if name in __all__:
        from app.storage import db

        return getattr(db, name)
    raise AttributeError(f"module 'app.storage' has no attribute {name!r}")
