"""FedGKT for real: four edge processes on a real hub (MQTT and gRPC) each train a small CNN
and send the server features and logits, never a model; the server's larger model sends its
logits back. Each edge's CNN ends better on average than the same CNN trained alone on its
partition, and the bytes a round moves are recorded beside FedAvg's."""

from __future__ import annotations

import statistics

import pytest

from app.core.fl_config import FLConfig, config_from_toml
from app.core.gkt.alone import train_alone
from app.services.runs.demo import SAMPLE_CONFIG
from app.services.security.auth import SYSTEM
from app.ui.run_views.comparison import comparison
from tests.fl.edge_lab import RunLab

pytestmark = pytest.mark.slow

EDGES = [f"site-{i}" for i in range(1, 5)]
ROUNDS = 20
SENT_UP = {"features", "logits", "labels", "val_features", "val_labels"}


@pytest.fixture(scope="module")
def alone():
    """Each partition's CNN trained alone, round for round as its edge would."""
    base = config_from_toml(SAMPLE_CONFIG.read_text()).model_dump(mode="json")
    config = FLConfig.model_validate({**base, "algorithm": {"name": "fedgkt"}})
    return [train_alone(config, i, len(EDGES))["accuracy"] for i in range(len(EDGES))]


@pytest.fixture(params=["mqtt", "grpc"])
def lab(request, tmp_path):
    lab = RunLab(tmp_path, request.param, "gkt", EDGES)
    yield lab
    lab.close()


def test_edges_learn_from_the_server_without_sending_a_model(lab, alone):
    job = lab.finish(lab.start("gkt", algorithm={"name": "fedgkt"}, training={"rounds": ROUNDS}))
    edges = lab.of_edges(job.id, "test_accuracy", ROUNDS)
    assert sorted(edges) == EDGES
    together = [edges[name] for name in EDGES]  # partition i is site-(i + 1)'s
    assert statistics.fmean(together) > statistics.fmean(alone), (together, alone)
    assert sum(t > a for t, a in zip(together, alone, strict=True)) >= 2, (together, alone)
    assert lab.aggregate(job.id, "edge_accuracy")[-1] == pytest.approx(statistics.fmean(together))
    server = lab.aggregate(job.id, "test_accuracy")
    assert len(server) == ROUNDS and server[-1] > 0.8

    # Up: features, logits and labels only; down: the server's logits, from round 2.
    ups = [c for c in lab.carried if c.type == "model_up" and c.tensors]
    downs = [c for c in lab.carried if c.type == "model_down"]
    assert len(ups) == len(downs) == ROUNDS * len(EDGES)
    assert all(set(c.tensors) == SENT_UP for c in ups)
    assert all(set(c.tensors) == ({"logits"} if c.round > 1 else set()) for c in downs)
    traffic = lab.aggregate(job.id, "bytes_per_round")
    for rnd in (1, ROUNDS):
        moved = [c for c in ups + downs if c.round == rnd]
        assert traffic[rnd - 1] == sum(sum(c.tensors.values()) for c in moved)
    stored = lab.services.run_data.artifacts(SYSTEM, job.id)
    assert [a.round for a in stored if a.node == "aggregate"] == list(range(1, ROUNDS + 1))
    assert not [a for a in stored if a.node != "aggregate"]  # no edge model ever left

    # FedAvg on the same edges: its bytes a round, beside FedGKT's in Compare
    fedavg = lab.finish(lab.start("fedavg", training={"rounds": 3}))
    rows = comparison(
        [lab.services.jobs.get(SYSTEM, j) for j in (job.id, fedavg.id)],
        {j: series(lab, j) for j in (job.id, fedavg.id)},
    )
    (shown,) = [r.values for r in rows if r.label == "bytes per round"]
    assert shown[0].endswith("MB") and shown[1].endswith("KB"), shown


def series(lab: RunLab, job_id: int) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for m in lab.services.run_data.metrics(SYSTEM, job_id):
        if m.node == "aggregate":
            out.setdefault(m.name, []).append((m.round, m.value))
    return out
