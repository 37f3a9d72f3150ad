"""Server-free runs for real: eight edge processes on a real hub (MQTT and gRPC) push their
models to each other over a ring plus random links, with no server process. Push-sum comes
within 5 points of FedAvg on the same edges; the hub carries models only along the trust
graph's links; an edge killed mid-run leaves the rest agreeing, and the log says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backends.factory import create_hub
from app.config import Settings
from app.core.fl_config import FLConfig, config_from_toml
from app.core.peer.graph import device_graph
from app.core.run.directory import RunDir
from app.services import Services
from app.services.runs.demo import SAMPLE_CONFIG, start_center
from app.services.security.auth import SYSTEM
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

EDGES = [f"site-{i}" for i in range(1, 9)]
ROUNDS = 20
GRAPH = {"graph": "ring", "random_links": 8, "seed": 1}
TERMINAL = ("FINISHED", "FAILED", "STOPPED")


class PeerLab:
    def __init__(self, tmp_path: Path, backend: str) -> None:
        self.settings = Settings.load(data_dir=tmp_path / "deck")
        self.services = Services.open(self.settings)
        self.cluster = start_center(self.settings, self.services, backend, heartbeat_s=0.5)
        self.services.groups.add(SYSTEM, "lab")
        self.services.projects.create(SYSTEM, "p2p", "lab")
        self.devices = {}
        for name in EDGES:
            new = self.services.edges.register(SYSTEM, name)
            self.devices[name] = new.edge.device_id
            self.cluster.edges.start(name, new.edge.device_id, new.token)
        wait_until(
            lambda: all(e.status == "IDLE" for e in self.services.edges.list(SYSTEM)),
            90, "8 edges online", interval=0.2,
        )  # fmt: skip
        self.watcher = create_hub(self.cluster.hub_url, "watcher", token=self.settings.hub_token)
        self.watcher.connect(timeout=10)
        self.carried: list[tuple[str, str, int]] = []  # (topic, type, round): the run's traffic
        self.watcher.subscribe(
            "fd/p2p/run/#", lambda t, m: self.carried.append((t, m.type, m.round or 0))
        )

    def start(self, name: str, algorithm: str) -> int:
        base = config_from_toml(SAMPLE_CONFIG.read_text())
        config = FLConfig.model_validate(
            {
                **base.model_dump(mode="json", exclude_none=True),
                "name": name,
                "algorithm": {"name": algorithm},
                "decentralized": GRAPH,
                "training": {**base.training.model_dump(mode="json"), "rounds": ROUNDS},
            }
        )
        self.config = config
        saved = self.services.configs.save(SYSTEM, config)
        job = self.services.jobs.create(SYSTEM, name, "p2p", saved.name, EDGES)
        self.cluster.launcher.start(SYSTEM, job.id)
        return job.id

    def finish(self, job_id: int):
        wait_until(
            lambda: self.services.jobs.get(SYSTEM, job_id).status in TERMINAL,
            300, f"run {job_id} to end", interval=0.2,
        )  # fmt: skip
        self.cluster.ingest.settle()
        job = self.services.jobs.get(SYSTEM, job_id)
        assert job.status == "FINISHED", job.status_reason
        return job

    def aggregate(self, job_id: int, name: str) -> list[float]:
        metrics = self.services.run_data.metrics(SYSTEM, job_id)
        return [m.value for m in sorted(metrics, key=lambda m: m.round)
                if m.node == "aggregate" and m.name == name]  # fmt: skip

    def log(self, job_id: int, node: str | None = None) -> list[str]:
        return [line.text for line in self.services.run_data.logs(SYSTEM, job_id, node)]

    def close(self) -> None:
        self.watcher.close()
        self.cluster.close()
        self.services.close()


@pytest.fixture(params=["mqtt", "grpc"])
def lab(request, tmp_path):
    lab = PeerLab(tmp_path, request.param)
    yield lab
    lab.close()


def test_push_sum_without_a_server_comes_within_5_points_of_fedavg(lab):
    fedavg = lab.finish(lab.start("fedavg", "fedavg"))
    fedavg_accuracy = lab.aggregate(fedavg.id, "test_accuracy")[-1]

    lab.carried.clear()
    job = lab.finish(lab.start("pushsum", "pushsum"))
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
    pushes = [t.split("/") for t, kind, _ in lab.carried if kind == "peer_model"]
    assert len(pushes) == ROUNDS * len(graph.links)
    assert {(sender, to) for *_, to, _inbox, sender in pushes} == set(graph.links)
    assert not [t for t, kind, _ in lab.carried if kind == "model_down"]
    # every edge's last model and their mean are on record
    stored = lab.services.run_data.artifacts(SYSTEM, job.id)
    assert sorted(a.node for a in stored) == sorted([*EDGES, "aggregate"])
    assert any("ring + 8 random links trust graph over 8 edges" in t for t in lab.log(job.id))


def test_an_edge_killed_mid_run_leaves_the_rest_agreeing(lab):
    job_id = lab.start("pushsum-loss", "pushsum")
    reported = f"{lab.devices['site-8']}/metrics"
    wait_until(
        lambda: any(t.endswith(reported) and rnd >= 5 for t, _, rnd in list(lab.carried)),
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
