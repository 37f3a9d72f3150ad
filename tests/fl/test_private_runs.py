"""Differential privacy in real runs: five edge processes on a real hub clip and noise
their updates; the server records epsilon every round, less for more noise, and the run
still learns."""

from __future__ import annotations

import pytest

from app.services.security.auth import SYSTEM
from tests.fl.test_robust_runs import ROUNDS, Lab

pytestmark = pytest.mark.slow  # three runs per hub


@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_private_runs_record_epsilon_per_round_and_still_learn(tmp_path, backend):
    lab = Lab(tmp_path, backend)
    try:
        plain, _ = lab.run("plain", 1.0)
        figures = {}
        for noise in (0.3, 1.0):
            accuracy, _ = lab.run(
                f"dp-{noise}", 1.0, privacy={"noise_multiplier": noise, "clip_norm": 1.0}
            )
            epsilon = lab.aggregate(lab.last_job, "dp_epsilon")
            norms = [
                m.value
                for m in lab.services.run_data.metrics(SYSTEM, lab.last_job)
                if m.name == "dp_update_norm"
            ]
            figures[noise] = (accuracy, epsilon)
            assert len(epsilon) == ROUNDS and epsilon == sorted(epsilon) and epsilon[0] > 0
            assert len(norms) == 5 * ROUNDS and all(n > 0 for n in norms)
    finally:
        lab.close()
    print(
        f"\n{backend}: plain {plain:.4f}; "
        + "; ".join(
            f"noise {z}: accuracy {a:.4f}, epsilon {e[0]:.2f} (round 1) to {e[-1]:.2f}"
            for z, (a, e) in figures.items()
        )
    )
    assert figures[1.0][1][-1] < figures[0.3][1][-1]  # more noise, less privacy spent
    assert figures[0.3][0] > 0.5  # it still learns (ten classes: chance is 0.1)
