"""The centralized baseline: a job's config trained on the pooled data, recorded as a run
of its own beside the federated one, so Compare draws both."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.core.artifacts import load_weights
from app.errors import InvalidInput
from app.services.runs.baseline import create_baseline, run_baseline
from tests.helpers import SAMPLE_CONFIG
from tests.test_cli import cli  # noqa: F401  (the fixture)

CONFIG = {**SAMPLE_CONFIG, "training": {**SAMPLE_CONFIG.get("training", {}), "rounds": 4}}


@pytest.fixture
def federated(services, operator):
    services.projects.create(operator, "digits")
    services.configs.save_dict(operator, CONFIG)
    for name in ("e1", "e2"):
        services.edges.register(operator, name)
    return services.jobs.create(operator, "fed", "digits", CONFIG["name"], ["e1", "e2"], tags=["a"])


def test_a_baseline_is_a_run_of_its_own_with_every_round_and_its_model(
    services, operator, federated, tmp_path: Path
):
    job = create_baseline(services, operator, federated.id)
    assert (job.name, job.status, job.edges) == ("fed (centralized)", "QUEUED", [])
    assert job.tags == ["a", "centralized"] and job.config_snapshot == federated.config_snapshot
    seen = []
    done = run_baseline(
        services, tmp_path, operator, job.id, lambda r, n, acc: seen.append((r, n, acc))
    )
    assert done.status == "FINISHED" and done.current_round == 4, done.status_reason
    assert [(r, n) for r, n, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    curve = services.run_data.accuracy_curves(operator, [job.id, federated.id])
    assert curve[job.id] == pytest.approx([acc for *_, acc in seen]) and curve[job.id][-1] > 0.9
    assert federated.id not in curve  # not run yet: Compare draws what each has
    (model,) = services.run_data.artifacts(operator, job.id)
    assert model.round == 4 and model.node == "aggregate"
    weights = load_weights(Path(model.path), model.sha256)
    assert all(np.isfinite(w).all() for w in weights.values())
    logs = services.run_data.logs(operator, job.id, "server")
    assert len(logs) == 4 and "round 4/4" in logs[-1].text


def test_stopping_keeps_the_rounds_done(services, operator, federated, tmp_path):
    job = create_baseline(services, operator, federated.id)
    stop = threading.Event()
    done = run_baseline(services, tmp_path, operator, job.id, lambda *_: stop.set(), stop)
    assert done.status == "STOPPED" and done.current_round == 1
    assert len(services.run_data.accuracy_curves(operator, [job.id])[job.id]) == 1


def test_a_job_whose_data_is_on_the_edges_cannot_be_pooled(services, operator):
    services.projects.create(operator, "tabular")
    csv = {
        **CONFIG,
        "name": "wine",
        "task": {"name": "csv-mlp", "params": {"features": 13, "classes": 3}},
    }
    services.configs.save_dict(operator, csv)
    services.edges.register(operator, "e1")
    services.edges.register(operator, "e2")
    job = services.jobs.create(operator, "wine", "tabular", "wine", ["e1", "e2"])
    with pytest.raises(InvalidInput, match="task 'csv-mlp', whose data is on the edges"):
        create_baseline(services, operator, job.id)
    assert len(services.jobs.list(operator)) == 1  # nothing made


def test_from_the_shell(cli, tmp_path):  # noqa: F811
    root = Path(__file__).resolve().parents[2]
    sample = root / "resources" / "configs" / "digits-mlp-fedavg.toml"
    assert cli("project", "create", "digits")[0] == 0
    assert cli("config", "create", "--file", str(sample))[0] == 0
    assert cli("edge", "add", "e1")[0] == 0 and cli("edge", "add", "e2")[0] == 0
    code, _, err = cli("job", "create", "fed", "--project", "digits", "--config",
                       "digits-mlp-fedavg", "--edge", "e1", "--edge", "e2")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("job", "baseline", "1")
    assert code == 0, err
    assert "round  20/20: test accuracy" in err and "(centralized)" in out
    code, _, err = cli("job", "baseline", "7")
    assert code == 1 and "no job with id 7" in err
