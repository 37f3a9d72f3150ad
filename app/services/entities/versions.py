"""Entities kept as numbered versions of a name (configs, tasks): one version, or the
latest, and the latest of each name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict

T = TypeVar("T")


def pick_version(s: Session, model: Any, name: str, version: int | None) -> Any | None:
    """The row of `name` at `version`, or its latest if `version` is None; None if absent."""
    query = select(model).where(model.name == name)
    if version is None:
        query = query.order_by(model.version.desc()).limit(1)
    else:
        query = query.where(model.version == version)
    return s.scalar(query)


def latest_of(rows: Iterable[T]) -> list[T]:
    """The last row of each name, from rows ordered by name and version."""
    latest: dict[str, T] = {}
    for row in rows:
        latest[row.name] = row
    return list(latest.values())


def next_version(write: Callable[[], T], attempts: int = 5) -> T:
    """Run `write` (which numbers a new version max + 1 in its own session) until no
    other writer took that number first: on PostgreSQL two of them can read the same max."""
    for attempt in range(attempts):
        try:
            return write()
        except Conflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
