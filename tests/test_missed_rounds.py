"""What a control center that was away missed is recorded from the server's outcome:
figure by figure, so nothing is missing and nothing is twice."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from app.core.artifacts import load_weights, save_weights
from app.core.fl_config import FLConfig
from app.services.security.auth import SYSTEM
from app.storage.models import RoundMetric
from tests.helpers import SAMPLE_CONFIG


def test_missed_figures_and_models_are_recorded_once(services, tmp_path):
    services.projects.create(SYSTEM, "p")
    services.configs.save(SYSTEM, FLConfig.model_validate(SAMPLE_CONFIG))
    for name in ("a", "b"):
        services.edges.register(SYSTEM, name)
    job = services.jobs.create(SYSTEM, "r", "p", "digits-mlp", ["a", "b"])
    history = [
        {"round": r, "test_accuracy": 0.5 + r / 10, "fed_val_accuracy": 0.4 + r / 10}
        for r in (1, 2, 3)
    ]
    with services.db.session() as s:  # heard live: all of round 1, round 2's federated part
        s.add(
            RoundMetric(job_id=job.id, round=1, node="aggregate", name="test_accuracy", value=0.6)
        )
        s.add(
            RoundMetric(
                job_id=job.id, round=1, node="aggregate", name="fed_val_accuracy", value=0.5
            )
        )
        s.add(
            RoundMetric(
                job_id=job.id, round=2, node="aggregate", name="fed_val_accuracy", value=0.6
            )
        )
    files = {r: tmp_path / f"round-{r:04d}" / "aggregate.safetensors" for r in (1, 2, 3)}
    for r in (2, 3):
        save_weights(files[r], {"w": np.full(3, r, np.float32)})
    recorded = services.run_data.record_missed_rounds(job.id, history, files.__getitem__)
    assert recorded == [2, 3]
    metrics = services.run_data.metrics(SYSTEM, job.id)
    counts = collections.Counter((m.round, m.name) for m in metrics)
    assert set(counts.values()) == {1}  # nothing twice
    assert set(counts) == {(r, n) for r in (1, 2, 3) for n in ("test_accuracy", "fed_val_accuracy")}
    models = services.run_data.artifacts(SYSTEM, job.id)
    assert [a.round for a in models] == [2, 3]
    for a in models:
        assert load_weights(Path(a.path), a.sha256)["w"][0] == a.round
    assert services.run_data.record_missed_rounds(job.id, history, files.__getitem__) == []


def test_a_round_half_on_record_is_run_again_after_a_server_crash(services, tmp_path):
    """Killed between storing round 3's aggregate and reporting its figures: the relaunched
    server resumes after round 2, so round 3 is recorded once, whole."""
    from app.config import Settings
    from app.services.runs.launcher import JobLauncher
    from app.storage.models import ModelArtifact

    services.projects.create(SYSTEM, "p")
    services.configs.save(SYSTEM, FLConfig.model_validate(SAMPLE_CONFIG))
    for name in ("a", "b"):
        services.edges.register(SYSTEM, name)
    job = services.jobs.create(SYSTEM, "r", "p", "digits-mlp", ["a", "b"])
    services.jobs.transition(SYSTEM, job.id, "STARTING")
    services.jobs.transition(SYSTEM, job.id, "RUNNING")
    services.jobs.record_progress(SYSTEM, job.id, 2)  # the server said: round 2 done
    with services.db.session() as s:
        for rnd in (1, 2, 3):
            s.add(
                ModelArtifact(job_id=job.id, round=rnd, path=f"/m/{rnd}", sha256="ab" * 32, bytes=1)
            )
    launcher = JobLauncher(services, Settings.load(data_dir=tmp_path / "d"), None, "local://x")
    assert launcher.resume_point(job.id) == 2
    services.jobs.record_progress(SYSTEM, job.id, 3)
    assert launcher.resume_point(job.id) == 3
