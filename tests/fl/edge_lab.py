"""A control center with four ordinary edges and one odd edge process (hostile, or one
that drops out) steered through a small file it reads each round; and the odd edges'
own entry point."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from app.config import EDGE_TOKEN_ENV, Settings
from app.services import Services
from app.services.runs.demo import start_center
from app.services.security.auth import SYSTEM
from tests.waiting import wait_until

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
