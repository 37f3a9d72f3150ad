"""Real runs: a server, edge agents (processes on mqtt and grpc), ingest into the database."""

import re
import threading

import numpy as np
import pytest

from app.config import Settings
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job, run_demo, start_cluster
from app.services.security.auth import SYSTEM

pytestmark = pytest.mark.slow  # every test here trains a run


class Run:
    def __init__(self, tmp_path, backend, edges, rounds, db_url=None, **options):
        self.settings = Settings.load(data_dir=tmp_path / f"deck-{backend}", db_url=db_url)
        self.services = Services.open(self.settings)
        self.options = DemoOptions(
            edges=edges, rounds=rounds, backend=backend, heartbeat_s=0.5, **options
        )
        self.cluster = start_cluster(self.settings, self.services, self.options)
        self.done = threading.Event()
        self.rounds_seen = threading.Condition()
        self.last_round = 0
        self.cluster.launcher.on_exit = lambda _id: self.done.set()
        self.cluster.ingest.events.subscribe(self._on_event)
        self.job_id = create_demo_job(self.services, self.cluster.edge_names, self.options)

    def _on_event(self, event):
        if event.kind == "metric" and event.data["node"] == "aggregate":
            with self.rounds_seen:
                self.last_round = event.data["round"]
                self.rounds_seen.notify_all()

    def start(self):
        self.cluster.launcher.start(SYSTEM, self.job_id)

    def wait_round(self, rnd, timeout=120):
        with self.rounds_seen:
            assert self.rounds_seen.wait_for(lambda: self.last_round >= rnd, timeout), "no progress"

    def finish(self, timeout=240):
        assert self.done.wait(timeout), "run did not end"
        self.cluster.ingest.settle()
        return self.services.jobs.get(SYSTEM, self.job_id)

    def close(self):
        self.cluster.close()
        self.services.close()


@pytest.fixture
def make_run(tmp_path):
    runs = []

    def make(backend, edges=2, rounds=3, **options):
        run = Run(tmp_path, backend, edges, rounds, **options)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


def test_a_run_with_edge_processes_on_postgresql(make_run, fresh_postgres_url):
    """The database a lab would share: the server process and ingest write to PostgreSQL."""
    run = make_run("mqtt", edges=2, rounds=3, db_url=fresh_postgres_url)
    assert run.services.db.engine.dialect.name == "postgresql"
    run.start()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    counts = run.services.run_data.counts(run.job_id)
    assert counts["metric_rounds"] == 3 and counts["client_artifacts"] == 6
    assert counts["edges_with_samples"] == 2


@pytest.mark.parametrize("backend", ["local", "mqtt", "grpc"])
def test_a_run_is_trained_and_recorded_on_each_backend(make_run, backend):
    run = make_run(backend, edges=3, rounds=3)
    run.start()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    assert job.current_round == 3 and job.started_at and job.finished_at
    counts = run.services.run_data.counts(run.job_id)
    assert counts["metric_rounds"] == 3
    assert counts["aggregate_artifacts"] == 3 and counts["client_artifacts"] == 9
    assert counts["edges_with_samples"] == 3
    logs = run.services.run_data.logs(SYSTEM, run.job_id)
    assert {line.node for line in logs} >= {"server", "demo-edge-1", "demo-edge-2", "demo-edge-3"}
    # Nothing went wrong, so the log says nothing went wrong: no round sent twice, no update
    # refused (an edge's own TRAINING announcement on joining once read as a reconnect).
    assert [line.text for line in logs if line.level != "INFO"] == []
    acc = [
        m.value
        for m in run.services.run_data.metrics(SYSTEM, run.job_id)
        if m.node == "aggregate" and m.name == "test_accuracy"
    ]
    assert len(acc) == 3 and acc[-1] > 0.5
    edges = {e.name: e.status for e in run.services.edges.list(SYSTEM)}
    assert set(edges.values()) <= {"IDLE", "TRAINING"}
    # every stored model can be read back with its checksum
    for artifact in run.services.run_data.artifacts(SYSTEM, run.job_id)[:4]:
        from pathlib import Path

        from app.core.artifacts import load_weights

        assert load_weights(Path(artifact.path), artifact.sha256)


def test_same_seed_same_result(tmp_path):
    summaries = [
        run_demo(
            Settings.load(data_dir=tmp_path / f"r{i}"),
            DemoOptions(edges=3, rounds=3, backend="local", heartbeat_s=0.5),
        )
        for i in range(2)
    ]
    assert summaries[0]["final_test_accuracy"] == summaries[1]["final_test_accuracy"]
    weights = []
    for i in range(2):
        from safetensors.numpy import load_file

        weights.append(
            load_file(tmp_path / f"r{i}/artifacts/run-1/round-0003/aggregate.safetensors")
        )
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_an_edge_killed_mid_run_is_left_out(make_run):
    # Rounds take a fraction of a second: enough of them that the kill lands mid-run.
    run = make_run("mqtt", edges=3, rounds=30, round_timeout_s=15)
    run.start()
    run.wait_round(2)
    victim = run.cluster.edge_procs[0]
    victim.kill()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    assert run.services.edges.get(SYSTEM, "demo-edge-1").status == "OFFLINE"
    client_rounds = {
        (a.round, a.node)
        for a in run.services.run_data.artifacts(SYSTEM, run.job_id)
        if a.node != "aggregate"
    }
    assert (30, "demo-edge-1") not in client_rounds and (30, "demo-edge-2") in client_rounds
    warnings = run.services.run_data.logs(SYSTEM, run.job_id, "server", min_level="WARNING")
    said = [line.text for line in warnings if line.text.startswith("demo-edge-1 went offline")]
    assert len(said) == 1, [line.text for line in warnings]
    assert re.fullmatch(r"demo-edge-1 went offline in round \d+; continuing with 2 of 3", said[0])


def test_the_run_fails_with_a_reason_when_too_few_edges_remain(make_run):
    run = make_run("mqtt", edges=2, rounds=40, round_timeout_s=15)
    run.start()
    run.wait_round(1)
    run.cluster.edge_procs[1].kill()
    job = run.finish()
    assert job.status == "FAILED"
    assert "min_clients is 2" in job.status_reason
    errors = run.services.run_data.logs(SYSTEM, run.job_id, min_level="ERROR")
    assert any("min_clients" in line.text for line in errors)


def test_a_job_stopped_mid_run(make_run):
    run = make_run("grpc", edges=2, rounds=40)
    run.start()
    run.wait_round(2)
    run.cluster.launcher.stop(SYSTEM, run.job_id)
    job = run.finish()
    assert job.status == "STOPPED"
    assert 2 <= job.current_round < 40
    assert [h["status"] for h in job.history][-1] == "STOPPED"
