"""Schema, migrations and the session contract, on every supported database."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from app.storage import Database, open_database
from app.storage.models import Base, Group, Project


def test_migrations_take_an_empty_database_to_head(db_url):
    db = Database(db_url)
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == Database.head_revision()
    tables = set(inspect(db.engine).get_table_names())
    expected = {
        "users",
        "groups",
        "memberships",
        "projects",
        "edges",
        "configs",
        "jobs",
        "job_edges",
        "job_status_events",
        "round_metrics",
        "system_samples",
        "log_lines",
        "model_artifacts",
        "schedules",
        "flows",
        "flow_steps",
    }
    assert expected <= tables
    db.close()


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_upgrade_twice_is_harmless(db):
    db.upgrade()
    assert db.current_revision() == Database.head_revision()


def test_live_view_queries_have_indexes(db):
    insp = inspect(db.engine)

    def indexed(table):
        return {tuple(ix["column_names"]) for ix in insp.get_indexes(table)}

    assert ("job_id", "round") in indexed("round_metrics")
    assert ("edge_id", "at") in indexed("system_samples")
    assert ("job_id", "at") in indexed("log_lines")


def test_session_rolls_back_everything_on_error(db):
    with pytest.raises(RuntimeError), db.session() as s:
        s.add(Group(name="half-written"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.scalar(select(Group).where(Group.name == "half-written")) is None


def test_foreign_keys_are_enforced(db):
    from sqlalchemy.exc import IntegrityError

    from app.errors import Conflict

    refused = pytest.raises(Conflict, match="the database refused the change")
    with refused as caught, db.session() as s:
        s.add(Project(name="orphan", group_id=424242))
    assert isinstance(caught.value.__cause__, IntegrityError)


def test_a_uniqueness_the_database_refuses_is_a_conflict_naming_the_value(db):
    from app.errors import Conflict

    with db.session() as s:
        s.add(Project(name="twice"))
    with pytest.raises(Conflict, match="exists already"), db.session() as s:
        s.add(Project(name="twice"))  # no check before: as when two writers race
    with db.session() as s:
        assert s.scalar(select(func.count(Project.id))) == 1


def test_two_threads_writing_at_once_lose_nothing(db):
    """Ingest and the scheduler write from their own threads; on an in-memory SQLite
    database (one shared connection) their units of work must not interleave."""
    import threading

    def write(prefix: str) -> None:
        for i in range(150):
            with db.session() as s:
                s.add(Group(name=f"{prefix}-{i}"))
                s.flush()
                s.scalar(select(func.count(Group.id)))

    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        assert s.scalar(select(func.count(Group.id)).where(Group.name.like("%-%"))) == 450


def test_sqlite_file_runs_in_wal_with_busy_timeout(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    db.close()


def test_datetimes_come_back_timezone_aware(db):
    from app.storage.models import utcnow

    with db.session() as s:
        s.add(Group(name="g", created_at=utcnow()))
    with db.session() as s:
        assert s.scalar(select(Group.created_at)).tzinfo is not None


def test_the_head_read_from_the_migration_files_is_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.storage.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert Database.head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_a_database_that_cannot_be_reached_is_refused_with_the_reason():
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        open_database("postgresql+psycopg://feddeck:s3cret@127.0.0.1:9/feddeck")
    text = str(refused.value)
    assert "could not be opened" in text and "127.0.0.1" in text and "s3cret" not in text
