"""Engine, sessions and migrations: the one place that knows how to open the database."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from app.errors import Conflict, InvalidInput

if TYPE_CHECKING:  # Alembic loads only when the schema needs a migration
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_conn, _record, *, file_backed: bool) -> None:
    dbapi_conn.isolation_level = None  # see create_db_engine: SQLAlchemy emits BEGIN itself
    cursor = dbapi_conn.cursor()
    if file_backed:
        # WAL lets the GUI read while ingest writes; NORMAL is durable at checkpoints in WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def is_sqlite_in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    in_memory = is_sqlite_in_memory(url)
    kwargs: dict = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # One shared connection, or every new connection would see an empty database.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    event.listen(
        engine,
        "connect",
        lambda conn, rec: _sqlite_pragmas(conn, rec, file_backed=not in_memory),
    )
    # pysqlite's own transaction handling breaks SAVEPOINT (a RELEASE would commit) and
    # starts transactions DEFERRED, whose upgrade to a write fails at once with "database
    # is locked" when another thread wrote meanwhile, busy_timeout or not. So: take the
    # transaction control away from pysqlite and begin every unit of work IMMEDIATE.
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def describe_integrity_error(exc: IntegrityError) -> str:
    """'name shared-0 exists already' from PostgreSQL's DETAIL or SQLite's message."""
    text = str(exc.orig)
    detail = re.search(r"Key \((.+?)\)=\((.+?)\) already exists", text)
    if detail:
        return f"{detail.group(1)} {detail.group(2)} exists already (written at the same moment)"
    unique = re.search(r"UNIQUE constraint failed: ([\w., ]+)", text)
    if unique:
        return f"that {unique.group(1)} exists already (written at the same moment)"
    return f"the database refused the change: {text.splitlines()[0][:200]}"


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


class Database:
    """Owns the engine. `session()` is the only way to talk to the tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # An in-memory database is one shared connection: two threads' units of work on it
        # would interleave inside one transaction, so they take turns.
        self._turns = threading.RLock() if is_sqlite_in_memory(url) else nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any exception.
        A uniqueness the database refused (two writers creating the same name at once,
        which a check before the insert cannot see on PostgreSQL) is a Conflict."""
        with self._turns:
            session = self._sessions()
            try:
                yield session
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                raise Conflict(describe_integrity_error(exc)) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command

        cfg = _alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        """The schema's revision, read from Alembic's table (None on an empty database)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    @staticmethod
    def head_revision() -> str | None:
        """The newest migration, from the files' `revision` / `down_revision` lines: the
        one no other migration follows."""
        revisions, parents = set(), set()
        for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
            source = path.read_text()
            revision = re.search(r'^revision = "([^"]+)"', source, re.M)
            parent = re.search(r'^down_revision = "([^"]+)"', source, re.M)
            if revision:
                revisions.add(revision.group(1))
            if parent:
                parents.add(parent.group(1))
        heads = revisions - parents
        if len(heads) == 1:
            return heads.pop()
        from alembic.script import ScriptDirectory  # a layout the lines do not tell

        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """The database at `url`, its schema migrated to the newest revision if it is older
    (Alembic is not even loaded when it is current). A database that cannot be reached
    or read is refused with the reason."""
    db = Database(url)
    if migrate:
        try:
            if db.current_revision() != Database.head_revision():
                db.upgrade()
        except OperationalError as exc:
            db.close()
            shown = make_url(url).render_as_string(hide_password=True)
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise InvalidInput(f"the database {shown} could not be opened: {reason}") from None
    return db
