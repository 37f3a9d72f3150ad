import os
import subprocess

# Before any Qt import: no display on CI machines.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from app.services import Services
from app.services.security.auth import Actor
from app.storage import open_database
from app.storage.models import Role

PG_URL = os.environ.get("FEDDECK_TEST_PG_URL")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Tests never read or write the user's real data dir or credentials."""
    monkeypatch.setenv("FEDDECK_DATA_DIR", str(tmp_path / "data"))
    for var in (
        "FEDDECK_DB_URL",
        "FEDDECK_HUB_URL",
        "FEDDECK_USER",
        "FEDDECK_PASSWORD",
        "FEDDECK_NEW_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def postgres_url():
    """FEDDECK_TEST_PG_URL, else a throwaway cluster of this machine's PostgreSQL for the
    session. In CI a missing server fails the run instead of skipping its tests."""
    if PG_URL:
        yield PG_URL
        return
    from tests.servers import Postgres

    try:
        server = Postgres().start()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = f"PostgreSQL: {exc} {detail.decode(errors='replace')[-300:]}".strip()
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason + " (or set FEDDECK_TEST_PG_URL)")
    yield server.url
    server.stop()


@pytest.fixture
def fresh_postgres_url(postgres_url):
    """A database of its own on the session's PostgreSQL, dropped after the test."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"feddeck_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if request.param == "sqlite-memory":
        return "sqlite:///:memory:"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db(db_url):
    database = open_database(db_url)
    yield database
    if database.engine.dialect.name == "postgresql":
        from app.storage.models import Base

        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    database.close()


@pytest.fixture
def services(db):
    return Services.for_database(db)


@pytest.fixture
def admin(services) -> Actor:
    services.users.create_first_admin("root", "rootpass123")
    return services.users.login("root", "rootpass123")


@pytest.fixture
def operator(services, admin) -> Actor:
    services.users.add(admin, "olga", "olgapass123", Role.OPERATOR.value)
    return services.users.login("olga", "olgapass123")


@pytest.fixture
def viewer(services, admin) -> Actor:
    services.users.add(admin, "vera", "verapass123", Role.VIEWER.value)
    return services.users.login("vera", "verapass123")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process without interpreter finalisation. PySide 6 and pyqtgraph can
    abort while the garbage collector frees plot items after QApplication is gone
    ("bool_dealloc"), and gloo aborts when torch tears a process group down under a
    receive (a rank of a cluster job, test_rank_hubs), turning a passed run into a crash;
    the results are all reported by now, so leave with pytest's own exit status."""
    import sys

    status = getattr(config, "_feddeck_exitstatus", None)
    worlds = [
        sys.modules[f"app.backends.{t}.client"]
        for t in ("mpi", "trpc")
        if f"app.backends.{t}.client" in sys.modules
    ]
    if status is None or ("PySide6" not in sys.modules and not worlds):
        return
    for world in worlds:
        world.end_world()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def pytest_sessionfinish(session, exitstatus):
    session.config._feddeck_exitstatus = exitstatus
