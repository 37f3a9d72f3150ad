"""Server-free runs for real: eight edge processes on a real hub (MQTT and gRPC) push their
models to each other over a ring plus random links, with no server process. Push-sum comes
within 5 points of FedAvg on the same edges; the hub carries models only along the trust
graph's links; an edge killed mid-run leaves the rest agreeing, and the log says so."""

from __future__ import annotations

import pytest

from app.core.peer.graph import device_graph
from app.core.run.directory import RunDir
from app.services.security.auth import SYSTEM
from tests.fl.edge_lab import RunLab
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

EDGES = [f"site-{i}" for i in range(1, 9)]
ROUNDS = 20
# a ring plus 16 random links: each edge pushes to three others on average
GRAPH = {"graph": "ring", "random_links": 16, "seed": 1}


@pytest.fixture(params=["mqtt", "grpc"])
def lab(request, tmp_path):
    lab = RunLab(tmp_path, request.param, "p2p", EDGES)
    yield lab
    lab.close()


def start(lab: RunLab, name: str, algorithm: str) -> int:
    return lab.start(name, algorithm={"name": algorithm}, decentralized=GRAPH,
                     training={"rounds": ROUNDS})  # fmt: skip


def test_push_sum_without_a_server_comes_within_5_points_of_fedavg(lab):
    fedavg = lab.finish(start(lab, "fedavg", "fedavg"))
    fedavg_accuracy = lab.aggregate(fedavg.id, "test_accuracy")[-1]

    lab.carried.clear()
    job = lab.finish(start(lab, "pushsum", "pushsum"))
    accuracy = lab.aggregate(job.id, "test_accuracy")
    assert len(accuracy) == ROUNDS
    assert accuracy[-1] >= fedavg_accuracy - 0.05, (accuracy[-1], fedavg_accuracy)
    low, high = lab.aggregate(job.id, "accuracy_min"), lab.aggregate(job.id, "accuracy_max")
    assert all(lo <= mean <= hi for lo, mean, hi in zip(low, accuracy, high, strict=True))
    distance = lab.aggregate(job.id, "consensus_distance")
    assert len(distance) == ROUNDS and distance[-1] < distance[0]

    # No server: none was started, none sent a model; models went only along the links.
    assert job.id not in lab.cluster.launcher._procs
    assert not RunDir(lab.settings.artifacts_dir, job.id).pid_file.exists()
    graph = device_graph(lab.config.decentralized, lab.devices)
    pushes = [c.topic.split("/") for c in lab.carried if c.type == "peer_model"]
    assert len(pushes) == ROUNDS * len(graph.links)
    assert {(sender, to) for *_, to, _inbox, sender in pushes} == set(graph.links)
    assert not [c for c in lab.carried if c.type == "model_down"]
    traffic = lab.aggregate(job.id, "bytes_per_round")  # what the pushes carried, each round
    for rnd in (1, ROUNDS):
        pushed = [c for c in lab.carried if c.type == "peer_model" and c.round == rnd]
        assert traffic[rnd - 1] == sum(sum(c.tensors.values()) for c in pushed)
    # every edge's last model and their mean are on record
    stored = lab.services.run_data.artifacts(SYSTEM, job.id)
    assert sorted(a.node for a in stored) == sorted([*EDGES, "aggregate"])
    assert any("ring + 16 random links trust graph over 8 edges" in t for t in lab.log(job.id))


def test_an_edge_killed_mid_run_leaves_the_rest_agreeing(lab):
    job_id = start(lab, "pushsum-loss", "pushsum")
    reported = f"{lab.devices['site-8']}/metrics"
    wait_until(
        lambda: any(c.topic.endswith(reported) and c.round >= 5 for c in list(lab.carried)),
        120, "site-8's round 5", interval=0.05,
    )  # fmt: skip
    lab.cluster.edges.procs[EDGES.index("site-8")].kill()
    job = lab.finish(job_id)
    accuracy = lab.aggregate(job.id, "test_accuracy")
    reporting = lab.aggregate(job.id, "edges_reporting")
    distance = lab.aggregate(job.id, "consensus_distance")
    assert len(accuracy) == ROUNDS and reporting[0] == 8 and reporting[-1] == 7
    gone = reporting.index(7.0)  # the first round without it
    assert distance[-1] < distance[gone]
    assert accuracy[-1] > 0.85
    server = lab.log(job.id, "server")
    assert any(t.startswith("site-8 left the run after round") and "7 edges go on" in t
               for t in server), server  # fmt: skip
    assert any("site-8" in t and "from now on this edge sends to" in t for t in lab.log(job.id))


@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_big_models_go_edge_to_edge_beside_the_hub(tmp_path, backend):
    """With the direct channel's threshold at 0 every share is offered by its sender and
    fetched by the out-neighbour: the hub carries where to fetch it, never the model."""
    lab = RunLab(tmp_path, backend, "p2p", EDGES[:4], settings="[direct]\nmin_mib = 0\n")
    try:
        job = lab.finish(lab.start("direct", algorithm={"name": "pushsum"},
                                   decentralized={"graph": "ring", "random_links": 4, "seed": 1},
                                   training={"rounds": 8}))  # fmt: skip
        pushes = [c for c in lab.carried if c.type == "peer_model"]
        assert len(pushes) == 8 * 8 and not [c for c in pushes if c.tensors]
        assert lab.aggregate(job.id, "test_accuracy")[-1] > 0.8
        assert len(lab.aggregate(job.id, "edges_reporting")) == 8
        assert not [t for t in lab.log(job.id) if "mixing without it" in t]
    finally:
        lab.close()
