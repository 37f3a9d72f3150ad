"""The one place that knows a run's folder layout under the artifacts dir:

run-<id>/server.pid, server.log, outcome.json
run-<id>/round-<NNNN>/<node>.safetensors
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunDir:
    artifacts_dir: Path
    job_id: int

    @property
    def path(self) -> Path:
        return self.artifacts_dir / f"run-{self.job_id}"

    @property
    def pid_file(self) -> Path:
        return self.path / "server.pid"

    @property
    def server_log(self) -> Path:
        return self.path / "server.log"

    @property
    def outcome_file(self) -> Path:
        return self.path / "outcome.json"

    def model(self, rnd: int, node: str) -> Path:
        return self.path / f"round-{rnd:04d}" / f"{node}.safetensors"

    def write_outcome(
        self, state: str, reason: str, rounds_done: int, history: list[dict] | None = None
    ) -> None:
        """Written once the server knows how the run ended; replaced atomically, so a
        reader never sees half of it. `history`: each round's aggregate figures, for a
        control center that was away when they went out over the hub."""
        self.path.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {
                "state": state,
                "reason": reason,
                "rounds_done": rounds_done,
                "history": history or [],
            }
        )
        tmp = self.outcome_file.with_suffix(".tmp")
        tmp.write_text(body)
        os.replace(tmp, self.outcome_file)

    def read_outcome(self) -> dict[str, Any] | None:
        """How the server said the run ended, or None if it never said (or said garbage)."""
        try:
            outcome = json.loads(self.outcome_file.read_text())
        except (OSError, ValueError):
            return None
        return outcome if isinstance(outcome, dict) else None
