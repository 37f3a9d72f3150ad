"""Edge agents this machine runs itself (demos): processes, or threads on the local hub."""

from __future__ import annotations

import subprocess
from pathlib import Path

from app.config import EDGE_TOKEN_ENV, Settings
from app.services.runs.child_processes import spawn_feddeck, stop_processes


class LocalEdges:
    def __init__(self, settings: Settings, hub_url: str, heartbeat_s: float = 1.0) -> None:
        self.settings, self.hub_url, self.heartbeat_s = settings, hub_url, heartbeat_s
        self.procs: list[subprocess.Popen] = []
        self.agents: list = []

    def start(
        self,
        name: str,
        device_id: str,
        token: str,
        *,
        data: dict[str, Path] | None = None,
        trust_center: str | None = None,
    ) -> None:
        """One edge agent: a thread on a local hub, else a `feddeck edge` process."""
        if self.hub_url.startswith("local://"):  # one process: the agent is a thread
            from app.backends.factory import create_hub
            from app.core.edge import EdgeAgent

            agent = EdgeAgent(
                create_hub(self.hub_url, device_id, limits=self.settings.wire),
                device_id,
                name,
                self.heartbeat_s,
                data=data,
                trust_center=trust_center,
                cache_dir=self.settings.data_dir / "task-cache" / name,
            )
            agent.start()
            self.agents.append(agent)
            return
        args = [
            "edge",
            "--hub",
            self.hub_url,
            "--name",
            name,
            "--heartbeat",
            str(self.heartbeat_s),
        ]
        for key, path in sorted((data or {}).items()):
            args += ["--data", f"{key}={path}"]
        if trust_center:
            args += ["--trust-center", trust_center]
        log_file = self.settings.data_dir / "logs" / f"{name}.log"
        # Demo edges end with this process, however it ends (a window killed at logout).
        self.procs.append(
            spawn_feddeck(
                self.settings, args, log_file, die_with_parent=True, secrets={EDGE_TOKEN_ENV: token}
            )
        )

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
            agent.hub.close()
        self.agents = []
        stop_processes(self.procs)
        self.procs = []
