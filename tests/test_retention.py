"""Disk that stays bounded: a project's client-update window applied by ingest as rounds
are aggregated (rows and files together), and a finished run deleted whole."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from app.backends.factory import create_hub
from app.core.artifacts import load_weights
from app.core.fl_config import FLConfig
from app.core.run.outbox import ServerOutbox
from app.core.run.protocol import RunAddress
from app.errors import Conflict, InvalidInput
from app.services.runs.ingest import IngestService
from app.services.runs.retention import delete_run
from app.services.security.auth import SYSTEM
from app.storage.models import JobEdge, JobStatusEvent, LogLine, ModelArtifact, RoundMetric
from tests.helpers import SAMPLE_CONFIG
from tests.hubs.conftest import wait_for

ROUNDS = 5


def record_a_run(services, db, artifacts: Path, keep: str) -> int:
    """A project with retention `keep`, and a 5-round run of two clients stored by the
    server's own outbox, recorded by a real ingest over a local hub."""
    project = f"p-{keep}"
    services.projects.create(SYSTEM, project, keep_client_rounds=keep)
    services.configs.save(SYSTEM, FLConfig.model_validate(SAMPLE_CONFIG))
    devices = [services.edges.register(SYSTEM, f"{project}-e{i}").edge.device_id for i in (1, 2)]
    job = services.jobs.create(
        SYSTEM, "run", project, "digits-mlp", [f"{project}-e1", f"{project}-e2"]
    )
    url = f"local://retention-{uuid.uuid4().hex[:8]}"
    weights = {"w": np.arange(256, dtype=np.float32)}
    with create_hub(url, "center") as center, create_hub(url, "server") as server:
        server.connect()
        ingest = IngestService(db, center, flush_interval_s=0.05).start()
        out = ServerOutbox(server, RunAddress(project, job.id), artifacts, ROUNDS)
        for rnd in range(1, ROUNDS + 1):
            for device in devices:
                out.store(rnd, device, weights)
            out.store(rnd, "aggregate", weights)
        wait_for(lambda: ingest.stats.received == 3 * ROUNDS, 20, "every artifact message")
        assert ingest.drain(20)
        ingest.stop()
    assert ingest.stats.dropped == 0
    return job.id


@pytest.mark.parametrize(
    ("keep", "client_rounds"),
    [("2", [4, 5]), ("none", []), ("all", [1, 2, 3, 4, 5]), ("10", [1, 2, 3, 4, 5])],
)
def test_client_updates_are_kept_for_the_projects_window(
    services, db, tmp_path, keep, client_rounds
):
    artifacts = tmp_path / "artifacts"
    job_id = record_a_run(services, db, artifacts, keep)
    rows = services.run_data.artifacts(SYSTEM, job_id)
    assert sorted(a.round for a in rows if a.node == "aggregate") == [1, 2, 3, 4, 5]
    clients = [a for a in rows if a.node != "aggregate"]
    assert sorted({a.round for a in clients}) == client_rounds
    assert len(clients) == 2 * len(client_rounds)
    for a in rows:  # every row names a file that is there, intact
        assert load_weights(Path(a.path), a.sha256)["w"].shape == (256,)
    on_disk = sorted(artifacts.glob("run-*/round-*/*.safetensors"))
    assert len(on_disk) == len(rows)  # and no file is left that no row names
    assert services.jobs.get(SYSTEM, job_id).disk_bytes == sum(a.bytes for a in rows)


def test_retention_is_parsed_and_changed_with_clear_errors(services):
    services.projects.create(SYSTEM, "p")
    assert services.projects.get(SYSTEM, "p").client_updates_kept == "last 10 rounds"
    assert services.projects.set_retention(SYSTEM, "p", "all").keep_client_rounds is None
    assert services.projects.set_retention(SYSTEM, "p", "none").client_updates_kept == "none"
    for bad in ("-1", "some", "1.5", "99999999"):
        with pytest.raises(InvalidInput, match="give all, none, or a number of rounds"):
            services.projects.set_retention(SYSTEM, "p", bad)
    assert services.projects.get(SYSTEM, "p").keep_client_rounds == 0  # unchanged


def test_a_finished_run_is_deleted_with_its_files_and_a_going_one_is_not(services, db, tmp_path):
    artifacts = tmp_path / "artifacts"
    job_id = record_a_run(services, db, artifacts, "all")
    other = record_a_run(services, db, artifacts, "1")
    services.run_data.note(job_id, "center", "INFO", "a line")
    with pytest.raises(Conflict, match="stop it before deleting it"):  # QUEUED -> STARTING
        services.jobs.transition(SYSTEM, job_id, "STARTING")
        delete_run(services, artifacts, SYSTEM, job_id)
    assert (artifacts / f"run-{job_id}").exists() and services.jobs.get(SYSTEM, job_id)
    services.jobs.settle(SYSTEM, job_id, "FAILED", "for the test", 5)
    size = sum(a.bytes for a in services.run_data.artifacts(SYSTEM, job_id))
    result = delete_run(services, artifacts, SYSTEM, job_id)
    assert result["deleted"] == job_id and result["freed_bytes"] >= size
    assert not (artifacts / f"run-{job_id}").exists()
    with db.session() as session:  # no row of any kind is left behind
        for table in (LogLine, ModelArtifact, RoundMetric, JobEdge, JobStatusEvent):
            left = session.scalar(select(func.count()).where(table.job_id == job_id))
            assert left == 0, table.__tablename__
    assert job_id not in {j.id for j in services.jobs.list(SYSTEM)}
    assert len(services.run_data.artifacts(SYSTEM, other)) == 5 + 2  # the other run intact
