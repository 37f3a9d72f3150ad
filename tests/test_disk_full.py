"""A full disk: the run fails saying so, no row names a missing or half-written model, and
the control center goes on (and says when its own database cannot be written)."""

from __future__ import annotations

import errno
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event

from app.backends.factory import create_hub
from app.core.artifacts import load_weights
from app.core.run.protocol import RunAddress, log_message
from app.services.runs.ingest import IngestService
from app.services.security.auth import SYSTEM
from app.storage import open_database
from app.wire import topics
from tests.fl.test_runs_e2e import make_run as make_run  # a fixture
from tests.hubs.conftest import wait_for


def assert_every_model_intact(run) -> list:
    rows = run.services.run_data.artifacts(SYSTEM, run.job_id)
    for a in rows:
        assert load_weights(Path(a.path), a.sha256)
    assert not list(run.settings.artifacts_dir.rglob("*.partial"))
    return rows


def test_a_run_whose_disk_fills_fails_saying_so_and_the_center_goes_on(make_run, monkeypatch):
    import app.core.artifacts as artifacts

    write = artifacts.write_file

    def filling(path: Path, parts: list) -> None:  # ENOSPC from round 3 on, mid-file
        if "round-0003" in str(path) or "round-0004" in str(path):
            data = b"".join(parts)
            path.write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        write(path, parts)

    monkeypatch.setattr(artifacts, "write_file", filling)
    run = make_run("local", edges=2, rounds=5)
    run.start()
    job = run.finish()
    assert job.status == "FAILED"
    assert job.status_reason.startswith("disk full while writing ")
    assert "round-0003" in job.status_reason
    rows = assert_every_model_intact(run)
    assert {a.round for a in rows} == {1, 2}
    monkeypatch.setattr(artifacts, "write_file", write)  # space again: the next run goes
    from app.services.runs.demo import create_demo_job

    run.done.clear()
    run.job_id = create_demo_job(run.services, run.cluster.edge_names, run.options)
    run.start()
    assert run.finish().status == "FINISHED"


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.slow
def test_a_real_full_filesystem_under_the_run_folders(make_run, tmp_path):
    """The artifacts on a 400 KiB tmpfs: the server process hits a real ENOSPC."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "400k"):
        pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN here")
    try:
        run = make_run("grpc", edges=2, rounds=40)
        run.settings.artifacts_dir.rmdir() if run.settings.artifacts_dir.exists() else None
        run.settings.artifacts_dir.symlink_to(small, target_is_directory=True)
        run.start()
        job = run.finish()
        assert job.status == "FAILED", job.status_reason
        assert job.status_reason.startswith("disk full while writing "), job.status_reason
        assert 1 <= job.current_round < 40
        assert_every_model_intact(run)
        history = [h["status"] for h in job.history]
        assert history.count("STARTING") == 1  # settled as failed, not restarted in a loop
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_ingest_survives_a_full_database_and_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'full.db'}"
    db = open_database(url)
    limit = {"pages": None}

    @event.listens_for(db.engine, "connect")
    def _cap(dbapi_conn, _record):
        if limit["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count = {limit['pages']}")

    from app.services import Services

    services = Services.for_database(db)
    services.projects.create(SYSTEM, "p")
    from app.core.fl_config import FLConfig
    from tests.helpers import SAMPLE_CONFIG

    services.configs.save(SYSTEM, FLConfig.model_validate(SAMPLE_CONFIG))
    for name in ("a", "b"):
        services.edges.register(SYSTEM, name)
    job = services.jobs.create(SYSTEM, "r", "p", "digits-mlp", ["a", "b"])
    with db.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    db.engine.dispose()
    limit["pages"] = pages + 2  # a few pages of room, then SQLITE_FULL
    run = RunAddress("p", job.id)
    hub_url = f"local://full-{uuid.uuid4().hex[:8]}"
    reports = []
    with create_hub(hub_url, "center") as center, create_hub(hub_url, "server") as server:
        server.connect()
        ingest = IngestService(db, center, flush_interval_s=0.05).start()
        ingest.events.subscribe(lambda e: e.kind == "storage" and reports.append(e.data))
        for _ in range(300):
            server.publish(run.topic(topics.SERVER, "logs"), log_message(run, "INFO", "x" * 2000))
        wait_for(lambda: ingest.stats.received == 300, 20, "the log lines")
        assert ingest.drain(30)
        assert ingest.stats.dropped > 0
        assert len(reports) == 1  # said once, not once per lost message
        assert reports[0]["error"].startswith("disk full while writing the database")
        limit["pages"] = None  # space again: ingest, still running, records the next ones
        db.engine.dispose()
        server.publish(run.topic(topics.SERVER, "logs"), log_message(run, "INFO", "after"))
        wait_for(lambda: ingest.stats.received == 301, 20, "the next line")
        assert ingest.drain(30)
        ingest.stop()
    texts = [line.text for line in services.run_data.logs(SYSTEM, job.id)]
    assert texts[-1] == "after" and len(texts) == 300 - ingest.stats.dropped + 1
    services.close()
