"""Robust aggregation in real runs: five edge processes on a real hub, one of them hostile
(its updates multiplied by 1e4). Plain FedAvg collapses; median, trimmed mean and Krum stay
within 3 points of the clean run, and the run's log says what was left out or scaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.fl_config import FLConfig, config_from_toml
from app.services.runs.demo import SAMPLE_CONFIG
from app.services.security.auth import SYSTEM
from tests.fl.edge_lab import EdgeLab
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # five runs per hub

ROUNDS = 12
HONEST = [f"site-{i}" for i in range(1, 5)]
HOSTILE = "site-5"
TERMINAL = ("FINISHED", "FAILED", "STOPPED")


class Lab(EdgeLab):
    """A control center on `backend` with four honest edges and one hostile edge."""

    def __init__(self, tmp_path: Path, backend: str) -> None:
        super().__init__(
            tmp_path, backend, "robust", HONEST, HOSTILE, "tests.fl.poisoning_edge", "1"
        )

    def run(self, name: str, scale: float, privacy=None, **algorithm) -> tuple[float, list[str]]:
        """A run of 12 rounds that finished; its final test accuracy and its server's
        warnings. (`attacked` returns how plain FedAvg fares, which may be a failure.)"""
        self.control.write_text(repr(scale))
        base = config_from_toml(SAMPLE_CONFIG.read_text())
        config = FLConfig.model_validate(
            {
                **base.model_dump(mode="json", exclude_none=True),
                "name": name,
                "partitioning": {"kind": "iid", "seed": 0},
                "algorithm": {"name": "fedavg", **algorithm},
                "privacy": privacy or {},
                "training": {
                    **base.training.model_dump(mode="json"),
                    "rounds": ROUNDS,
                    "min_clients": 5,
                    "round_timeout_s": 60,
                },
            }
        )
        saved = self.services.configs.save(SYSTEM, config)
        job = self.services.jobs.create(SYSTEM, name, "robust", saved.name, [*HONEST, HOSTILE])
        self.cluster.launcher.start(SYSTEM, job.id)

        def ended() -> bool:
            return self.services.jobs.get(SYSTEM, job.id).status in TERMINAL

        wait_until(ended, 240, f"run {name} to end", interval=0.2)
        self.cluster.ingest.settle()
        job = self.services.jobs.get(SYSTEM, job.id)
        self.last_status = job.status, job.status_reason
        if not name.startswith("attacked-mean"):
            assert job.status == "FINISHED", job.status_reason
        self.last_job = job.id
        accuracy = self.aggregate(job.id, "test_accuracy") or [0.0]
        warnings = [
            line.text
            for line in self.services.run_data.logs(SYSTEM, job.id, "server")
            if line.level == "WARNING"
        ]
        return accuracy[-1], warnings

    def aggregate(self, job_id: int, name: str) -> list[float]:
        """The aggregate's figure `name`, round by round."""
        metrics = self.services.run_data.metrics(SYSTEM, job_id)
        return [m.value for m in metrics if m.node == "aggregate" and m.name == name]


@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_one_hostile_edge_of_five_ruins_fedavg_and_not_the_robust_rules(tmp_path, backend):
    lab = Lab(tmp_path, backend)
    try:
        clean, _ = lab.run("clean", 1.0)
        attacked, _ = lab.run("attacked-mean", 1e4)
        attacked_status = lab.last_status
        median, _ = lab.run("attacked-median", 1e4, aggregation="median")
        trimmed, _ = lab.run("attacked-trimmed", 1e4, aggregation="trimmed_mean", trim_fraction=0.2)
        krum, krum_log = lab.run("attacked-krum", 1e4, aggregation="multi_krum", byzantine=1)
        bounded, bound_log = lab.run("attacked-bounded", 1e4, norm_bound=5.0)
    finally:
        lab.close()
    figures = dict(
        clean=clean, mean=attacked, median=median, trimmed=trimmed, krum=krum, bounded=bounded
    )
    print(f"\n{backend}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
    print(f"{backend}: plain FedAvg under attack ended {attacked_status}")
    assert clean > 0.9 and attacked < clean - 0.3, figures
    if attacked_status[0] == "FAILED":  # its model diverged until every update was NaN
        assert "refused: site-" in attacked_status[1], attacked_status
    for rule in ("median", "trimmed", "krum"):
        assert figures[rule] > clean - 0.03, figures
    assert all(f"multi_krum left out the updates of {HOSTILE}" in w for w in krum_log), krum_log
    assert len(krum_log) == ROUNDS
    scaled = [w for w in bound_log if f"the update of {HOSTILE} was scaled down" in w]
    assert len(scaled) == ROUNDS, bound_log
