"""Backups of a SQLite database, taken with SQLite's online backup API (consistent while
the control center writes), and restored into a data dir that has no database yet.
PostgreSQL has its own tools (`pg_dump`, `pg_restore`), which do this better."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from app.errors import Conflict, InvalidInput
from app.storage.db import Database

SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_path(url: str, what: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise InvalidInput(
            f"{what} works on SQLite; this database is {parsed.get_backend_name()} "
            f"({parsed.render_as_string(hide_password=True)}): use pg_dump / pg_restore"
        )
    if parsed.database in (None, "", ":memory:"):
        raise InvalidInput(f"{what}: an in-memory database has nothing to keep")
    return Path(parsed.database)


def backup(db: Database, target: Path) -> dict:
    """Copy the live database to `target` (a new file), page by page, without stopping
    writers; the copy is checked before it is called a backup."""
    sqlite_path(db.url, "db backup")
    if target.exists():
        raise Conflict(f"{target} exists already; give a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    raw = db.engine.raw_connection()
    try:
        dest = sqlite3.connect(partial)
        try:
            # In one step: under WAL a reader does not block the writers, and a stepped
            # copy would start over each time another connection writes.
            raw.driver_connection.backup(dest)
        finally:
            dest.close()
    finally:
        raw.close()
    info = check_backup(partial)
    os.replace(partial, target)
    return {"backup": str(target), "bytes": target.stat().st_size, **info}


def check_backup(path: Path) -> dict:
    """A readable, intact FedDeck database: else InvalidInput naming what is wrong."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        raise InvalidInput(f"{path} is not a SQLite database (a FedDeck backup is one)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise InvalidInput(f"{path} is damaged: {verdict}")
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        except sqlite3.DatabaseError:
            raise InvalidInput(f"{path} is a SQLite database but not FedDeck's") from None
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} is damaged: {exc}") from None
    finally:
        conn.close()
    return {"revision": revision[0] if revision else None, "jobs": jobs}


def restore(source: Path, url: str) -> dict:
    """Put a backup in place as the database at `url`, which must not exist yet (nothing
    stored is ever overwritten); migrations then bring an older backup up to date."""
    target = sqlite_path(url, "db restore")
    info = check_backup(source)
    if target.exists() and target.stat().st_size > 0:
        raise Conflict(
            f"{target} exists already; restore into a data dir without a database "
            "(--data-dir NEW), or move that file away first"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(partial)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()
    os.replace(partial, target)
    db = Database(url)
    try:
        db.upgrade()
        revision = db.current_revision()
    finally:
        db.close()
    return {
        "restored": str(target),
        "from": str(source),
        "jobs": info["jobs"],
        "revision": revision,
    }
