"""Edges asked to train on CUDA: on a GPU they do, and report its load; without one they
refuse the run, saying why."""

import pytest

from app.config import Settings
from app.services.runs.demo import DemoOptions, run_demo
from bench.gpu_edge import cuda_devices, gpu_run, problems

HAS_CUDA = cuda_devices() > 0


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device on this machine")
@pytest.mark.parametrize("backend", ["grpc", "mqtt"])
def test_edge_processes_train_on_the_gpu_and_report_its_load(tmp_path, backend):
    row = gpu_run("cuda", tmp_path, edges=2, rounds=4, backend=backend)
    assert problems(row, edges=2) == []
    assert set(row["trained_on"].values()) == {"cuda:0"}
    assert row["accuracy"] > 0.8
    assert 0 <= row["max_gpu_pct"] <= 100


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_edges_without_cuda_refuse_a_cuda_run_with_the_reason(tmp_path):
    settings = Settings.load(data_dir=tmp_path / "deck")
    options = DemoOptions(edges=2, rounds=2, backend="local", device="cuda", round_timeout_s=10)
    summary = run_demo(settings, options)
    assert summary["status"] == "FAILED"
    assert "this edge has no CUDA" in summary["reason"], summary["reason"]
    assert summary["counts"]["client_artifacts"] == 0
