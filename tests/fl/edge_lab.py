"""A control center with four ordinary edges and one odd edge process (hostile, or one
that drops out) steered through a small file it reads each round; the odd edges' own entry
point; and a lab of edge processes whose every run message a watcher on the hub records."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from app.config import EDGE_TOKEN_ENV, Settings
from app.core.fl_config import FLConfig, config_from_toml
from app.services import Services
from app.services.runs.demo import SAMPLE_CONFIG, start_center
from app.services.security.auth import SYSTEM
from tests.waiting import wait_until

TERMINAL = ("FINISHED", "FAILED", "STOPPED")

ROOT = Path(__file__).resolve().parents[2]


class EdgeLab:
    """`steady` edges in the center's own processes, `odd` run as `python -m module
    --hub URL --name ODD --control FILE`, FILE starting as `control`."""

    def __init__(
        self, tmp_path: Path, backend: str, project: str, steady: list[str], odd: str,
        module: str, control: str,
    ) -> None:  # fmt: skip
        self.settings = Settings.load(data_dir=tmp_path / "deck")
        self.services = Services.open(self.settings)
        self.cluster = start_center(self.settings, self.services, backend, heartbeat_s=0.5)
        self.services.groups.add(SYSTEM, "lab")
        self.services.projects.create(SYSTEM, project, "lab")
        self.control = tmp_path / "control"
        self.control.write_text(control)
        for name in steady:
            new = self.services.edges.register(SYSTEM, name)
            self.cluster.edges.start(name, new.edge.device_id, new.token)
        new = self.services.edges.register(SYSTEM, odd)
        command = [sys.executable, "-m", module, "--hub", self.cluster.hub_url, "--name", odd]
        self.odd = subprocess.Popen(
            [*command, "--control", str(self.control)],
            cwd=ROOT,
            env={**os.environ, EDGE_TOKEN_ENV: new.token},
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: all(e.status == "IDLE" for e in self.services.edges.list(SYSTEM)),
            60, f"{len(steady) + 1} edges online", interval=0.2,
        )  # fmt: skip

    def close(self) -> None:
        self.odd.kill()
        self.odd.wait(10)
        self.cluster.close()
        self.services.close()


def serve_odd_edge(agent_type) -> None:
    """An odd edge's process: `agent_type(hub, device, name, …, control=FILE)` until ended."""
    from app.backends.factory import create_hub
    from app.wire import topics

    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--control", type=Path, required=True)
    args = parser.parse_args()
    token = os.environ[EDGE_TOKEN_ENV]
    device = token.partition(".")[0]
    hub = create_hub(args.hub, device, token=token, will_topic=topics.edge_topic(device, "status"))
    agent = agent_type(
        hub,
        device,
        args.name,
        heartbeat_s=0.5,
        cache_dir=args.control.parent / "task-cache",
        control=args.control,
    )
    agent.start()
    try:
        while not agent.wait(1.0):
            pass
    finally:
        agent.stop()
        hub.close()


class Carried:
    """A run message the hub carried: its topic, type, round and tensors' names and bytes."""

    def __init__(self, topic: str, message) -> None:
        self.topic, self.type, self.round = topic, message.type, message.round or 0
        self.tensors = {k: int(v.nbytes) for k, v in message.tensors.items()}


class RunLab:
    """A control center on `backend` with edge processes `edges`, and a watcher on the hub
    that keeps every message of the project's runs (`carried`)."""

    def __init__(
        self, tmp_path: Path, backend: str, project: str, edges: list[str], settings: str = ""
    ) -> None:
        """`settings`: the data dir's feddeck.toml (e.g. its [direct] table)."""
        from app.backends.factory import create_hub

        self.project, self.edges = project, edges
        (tmp_path / "deck").mkdir()
        (tmp_path / "deck" / "feddeck.toml").write_text(settings)
        self.settings = Settings.load(data_dir=tmp_path / "deck")
        self.services = Services.open(self.settings)
        self.cluster = start_center(self.settings, self.services, backend, heartbeat_s=0.5)
        self.services.groups.add(SYSTEM, "lab")
        self.services.projects.create(SYSTEM, project, "lab")
        self.devices = {}
        for name in edges:
            new = self.services.edges.register(SYSTEM, name)
            self.devices[name] = new.edge.device_id
            self.cluster.edges.start(name, new.edge.device_id, new.token)
        wait_until(
            lambda: all(e.status == "IDLE" for e in self.services.edges.list(SYSTEM)),
            90, f"{len(edges)} edges online", interval=0.2,
        )  # fmt: skip
        self.watcher = create_hub(self.cluster.hub_url, "watcher", token=self.settings.hub_token)
        self.watcher.connect(timeout=10)
        self.carried: list[Carried] = []
        for pattern in (f"fd/{project}/run/#", "fd/edge/+/control"):
            self.watcher.subscribe(pattern, lambda t, m: self.carried.append(Carried(t, m)))

    def start(self, name: str, **sections) -> int:
        """A job of the demo's config with `sections` replaced (algorithm=…, training=…
        merged into the demo's training), started on every edge of the lab."""
        base = config_from_toml(SAMPLE_CONFIG.read_text()).model_dump(mode="json")
        training = {**base["training"], **sections.pop("training", {})}
        config = FLConfig.model_validate({**base, **sections, "name": name, "training": training})
        self.config = config
        saved = self.services.configs.save(SYSTEM, config)
        job = self.services.jobs.create(SYSTEM, name, self.project, saved.name, self.edges)
        self.cluster.launcher.start(SYSTEM, job.id)
        return job.id

    def finish(self, job_id: int, timeout: float = 300):
        wait_until(
            lambda: self.services.jobs.get(SYSTEM, job_id).status in TERMINAL,
            timeout, f"run {job_id} to end", interval=0.2,
        )  # fmt: skip
        self.cluster.ingest.settle()
        job = self.services.jobs.get(SYSTEM, job_id)
        assert job.status == "FINISHED", job.status_reason
        return job

    def aggregate(self, job_id: int, name: str) -> list[float]:
        """The run's figure `name`, round by round."""
        metrics = self.services.run_data.metrics(SYSTEM, job_id)
        return [m.value for m in sorted(metrics, key=lambda m: m.round)
                if m.node == "aggregate" and m.name == name]  # fmt: skip

    def of_edges(self, job_id: int, name: str, rnd: int) -> dict[str, float]:
        """Each edge's own figure `name` in round `rnd`."""
        metrics = self.services.run_data.metrics(SYSTEM, job_id)
        return {m.node: m.value for m in metrics
                if m.node != "aggregate" and m.name == name and m.round == rnd}  # fmt: skip

    def log(self, job_id: int, node: str | None = None) -> list[str]:
        return [line.text for line in self.services.run_data.logs(SYSTEM, job_id, node)]

    def close(self) -> None:
        self.watcher.close()
        self.cluster.close()
        self.services.close()
