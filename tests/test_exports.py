"""A finished run out of FedDeck: to MLflow (read back through MLflow's own client), to
TensorBoard (read back by its event reader), its aggregated model to ONNX (run by ONNX
Runtime beside torch); and each run of a project exported as it ends."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from app.cli import main

pytestmark = pytest.mark.slow
ROUNDS = 3


def _cli(capsys, data, *argv) -> tuple[int, dict | str]:
    capsys.readouterr()
    code = main(["--data-dir", str(data), *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else err)


@pytest.fixture
def finished(tmp_path, monkeypatch, capsys):
    data = tmp_path / "deck"
    demo = ["demo", "--headless", "--edges", "2", "--rounds", str(ROUNDS), "--backend", "local"]
    code, summary = _cli(capsys, data, *demo, "--json")
    assert code == 0 and summary["status"] == "FINISHED"
    monkeypatch.setenv("FEDDECK_PASSWORD", "adminpass1")
    assert main(["--data-dir", str(data), "user", "add", "admin", "--role", "admin"]) == 0
    monkeypatch.setenv("FEDDECK_USER", "admin")
    return data, summary["job_id"]


def test_a_run_read_back_from_mlflow_tensorboard_and_onnx(finished, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    from app.config import Settings
    from app.services import Services
    from app.services.security.auth import SYSTEM

    data, job_id = finished
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["job", "export", str(job_id), "--mlflow", store, "--json"]
    code, done = _cli(capsys, data, *argv, "--tensorboard", str(tmp_path / "tb"))
    assert code == 0, done
    code, again = _cli(capsys, data, *argv)  # a second export replaces the first
    assert code == 0 and again["mlflow_run_id"] != done["mlflow_run_id"]

    services = Services.open(Settings.load(data_dir=data))
    try:
        metrics = services.run_data.metrics(SYSTEM, job_id)
        final = [a for a in services.run_data.artifacts(SYSTEM, job_id) if a.node == "aggregate"]
        job = services.jobs.get(SYSTEM, job_id)
    finally:
        services.close()
    accuracy = [m.value for m in metrics if m.node == "aggregate" and m.name == "test_accuracy"]
    assert len(accuracy) == ROUNDS

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(job.project)
    (run,) = client.search_runs([experiment.experiment_id], f"tags.`feddeck.run_id` = '{job_id}'")
    assert run.info.run_id == again["mlflow_run_id"] and run.info.status == "FINISHED"
    assert run.data.params["training.rounds"] == str(ROUNDS)
    assert run.data.params["algorithm.name"] == job.config_snapshot["algorithm"]["name"]
    history = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [(h.step, h.value) for h in history] == list(
        zip(range(1, ROUNDS + 1), accuracy, strict=True)
    )
    client_keys = [k for k in run.data.metrics if k.startswith("demo-edge-1/")]
    assert client_keys, sorted(run.data.metrics)
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())
    (artifact,) = client.list_artifacts(run.info.run_id, "model")
    local = client.download_artifacts(run.info.run_id, artifact.path, str(tmp_path / "dl"))
    with open(local, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == final[-1].sha256

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(done["tensorboard_dir"])
    events.Reload()
    scalars = events.Scalars("test_accuracy")
    assert [s.step for s in scalars] == list(range(1, ROUNDS + 1))
    assert np.allclose([s.value for s in scalars], accuracy)
    config = json.loads(
        (tmp_path / "tb" / job.project / f"run-{job_id}" / "config.json").read_text()
    )
    assert config == job.config_snapshot

    onnx_file = tmp_path / "model.onnx"
    code, out = _cli(capsys, data, "job", "export", str(job_id), "--onnx", str(onnx_file), "--json")
    assert code == 0, out
    assert out["round"] == ROUNDS and out["bytes"] == onnx_file.stat().st_size

    import onnxruntime
    import torch
    from sklearn.datasets import load_digits

    from app.core.artifacts import load_weights
    from app.core.models import set_weights
    from app.core.tasks.runtime import load_run_task
    from app.services.runs.serving import build_run_spec

    settings = Settings.load(data_dir=data)
    services = Services.open(settings)
    try:
        task, config = load_run_task(build_run_spec(services, settings, job_id))
    finally:
        services.close()
    model = task.build_model(config)
    set_weights(model, load_weights(final[-1].path, final[-1].sha256))
    session = onnxruntime.InferenceSession(str(onnx_file))
    shape = session.get_inputs()[0].shape[1:]  # the batch size is free
    x = (load_digits().data[:25] / 16.0).astype(np.float32).reshape(25, *shape)
    (ours,) = session.run(None, {"input": x})
    with torch.no_grad():
        theirs = model.eval()(torch.from_numpy(x)).numpy()
    assert ours.shape == (25, 10) and np.allclose(ours, theirs, atol=1e-4)


def test_bad_exports_are_refused_with_the_reason(finished, tmp_path, capsys):
    data, job_id = finished
    code, err = _cli(capsys, data, "job", "export", str(job_id))
    assert code == 1 and "say where to" in err
    code, err = _cli(capsys, data, "job", "export", str(job_id), "--mlflow", "ftp://x/y")
    assert code == 1 and "scheme must be one of" in err
    code, err = _cli(capsys, data, "job", "export", "99", "--tensorboard", str(tmp_path))
    assert code == 1 and "no job with id 99" in err
    code, err = _cli(capsys, data, "job", "export", str(job_id), "--onnx", "/nope/m.onnx")
    assert code == 1 and "does not exist" in err
    code, err = _cli(capsys, data, "job", "export", str(job_id), "--onnx", "m.onnx", "--round", "9")
    assert code == 1 and "no aggregated model of round 9" in err
    code, err = _cli(capsys, data, "project", "export", "demo", "--tensorboard", "relative/x")
    assert code == 0  # made absolute as the shell means it
    code, err = _cli(capsys, data, "project", "export", "demo", "--mlflow", "not a uri")
    assert code == 1 and "absolute folder or a URI" in err


def test_a_projects_runs_are_exported_as_they_end(finished, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    data, _first = finished
    store = f"sqlite:///{tmp_path / 'auto.db'}"
    code, project = _cli(capsys, data, "project", "export", "demo", "--mlflow", store, "--json")
    assert code == 0 and project["export_mlflow"] == store
    demo = ["demo", "--headless", "--edges", "2", "--rounds", "2", "--backend", "local"]
    code, summary = _cli(capsys, data, *demo, "--json")
    assert code == 0 and summary["status"] == "FINISHED"
    code, lines = _cli(
        capsys, data, "job", "logs", str(summary["job_id"]), "--node", "center", "--json"
    )
    assert code == 0 and any("exported to MLflow run" in line["text"] for line in lines), lines
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("demo")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["feddeck.run_id"] == str(summary["job_id"])
    assert len(client.get_metric_history(run.info.run_id, "test_accuracy")) == 2
