"""Secure aggregation in real runs: five edge processes on a real hub. The run reaches
plain FedAvg's accuracy round by round, every update that crosses the hub is a masked
vector, and an edge that dies mid-round does not stall the round: the others unmask it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.core.fl_config import FLConfig, config_from_toml
from app.services.runs.demo import SAMPLE_CONFIG
from app.services.security.auth import SYSTEM
from app.wire import topics
from app.wire.messages import MessageType
from tests.fl.edge_lab import EdgeLab
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # three runs per hub

ROUNDS = 6
STEADY = [f"site-{i}" for i in range(1, 5)]
DROPPING = "site-5"
TERMINAL = ("FINISHED", "FAILED", "STOPPED")


class Lab(EdgeLab):
    """A control center on `backend` with four edges and one that can drop out."""

    def __init__(self, tmp_path: Path, backend: str) -> None:
        super().__init__(
            tmp_path, backend, "secure", STEADY, DROPPING, "tests.fl.dropping_edge", "0"
        )
        # what crosses the hub to the server: each update's tensors, as the hub carries them
        self.updates: list[dict[str, np.ndarray]] = []
        self._seen = threading.Lock()
        self.cluster.hub.subscribe(topics.run_pattern("secure", "+", "+", "model/up"), self._spy)

    def _spy(self, _topic, message) -> None:
        if message.type == MessageType.MODEL_UP and message.tensors:
            with self._seen:
                self.updates.append(dict(message.tensors))

    def run(self, name: str, secure: bool, drop_round: int = 0) -> tuple[list[float], list[str]]:
        """A finished run's test accuracy per round, and its server's log."""
        self.control.write_text(str(drop_round))
        self.updates.clear()
        base = config_from_toml(SAMPLE_CONFIG.read_text())
        config = FLConfig.model_validate(
            {
                **base.model_dump(mode="json", exclude_none=True),
                "name": name,
                "partitioning": {"kind": "iid", "seed": 0},
                "secure_aggregation": {"enabled": secure},
                "training": {
                    **base.training.model_dump(mode="json"),
                    "rounds": ROUNDS,
                    "min_clients": 4,
                    "round_timeout_s": 60,
                },
            }
        )
        saved = self.services.configs.save(SYSTEM, config)
        job = self.services.jobs.create(SYSTEM, name, "secure", saved.name, [*STEADY, DROPPING])
        self.cluster.launcher.start(SYSTEM, job.id)
        wait_until(
            lambda: self.services.jobs.get(SYSTEM, job.id).status in TERMINAL,
            240, f"run {name} to end", interval=0.2,
        )  # fmt: skip
        self.cluster.ingest.settle()
        job = self.services.jobs.get(SYSTEM, job.id)
        assert job.status == "FINISHED", job.status_reason
        metrics = self.services.run_data.metrics(SYSTEM, job.id)
        accuracy = [m.value for m in metrics if m.node == "aggregate" and m.name == "test_accuracy"]
        logs = [line.text for line in self.services.run_data.logs(SYSTEM, job.id, "server")]
        return accuracy, logs


@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_secure_runs_match_fedavg_show_only_masks_and_survive_a_dropout(tmp_path, backend):
    lab = Lab(tmp_path, backend)
    try:
        plain, _ = lab.run("plain", secure=False)
        plain_updates = list(lab.updates)
        secure, secure_log = lab.run("secure", secure=True)
        masked = list(lab.updates)
        dropped, dropped_log = lab.run("secure-dropout", secure=True, drop_round=3)
    finally:
        lab.close()
    print(f"\n{backend}: plain {plain[-1]:.4f}, secure {secure[-1]:.4f}, dropout {dropped[-1]:.4f}")
    assert len(plain) == len(secure) == len(dropped) == ROUNDS
    np.testing.assert_allclose(secure, plain, atol=1e-3)  # the same sum, to float tolerance
    assert plain[-1] > 0.9 and dropped[-1] > 0.9
    # the server only ever held masked vectors: one uint64 vector per update, random words
    assert len(masked) == 5 * ROUNDS and all(set(u) == {"masked"} for u in masked)
    assert all(u["masked"].dtype == np.uint64 for u in masked)
    assert all(np.abs(u["masked"].view(np.int64)).mean() > 2**60 for u in masked)
    assert all(any(np.issubdtype(t.dtype, np.floating) for t in u.values()) for u in plain_updates)
    assert sum("masked updates" in line for line in secure_log) == ROUNDS
    said = [line for line in dropped_log if "dropped out" in line]
    assert len(said) == 1 and said[0].startswith("round 3: the sum of 4 masked updates"), said
    assert f"unmasked without {DROPPING}" in said[0]
