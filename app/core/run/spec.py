"""What an FL server is told about its run, and what it says when the run ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.fl_config import FLConfig
from app.core.run.direct_models import DirectPlan
from app.core.tasks.spec import TaskSpec


@dataclass(frozen=True)
class StoredModel:
    """An aggregated model on disk: where, its SHA-256, and the run and round it closed."""

    path: Path
    sha256: str
    job_id: int
    round: int

    @property
    def origin(self) -> str:
        return f"run {self.job_id} round {self.round}"

    def to_json(self) -> dict[str, Any]:
        """The form a job keeps in the database (`Job.init_model`)."""
        return {
            "job_id": self.job_id,
            "round": self.round,
            "path": str(self.path),
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredModel:
        try:
            return cls(
                Path(data["path"]), str(data["sha256"]), int(data["job_id"]), int(data["round"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"stored model reference {data!r} is incomplete: {exc}") from None


@dataclass(frozen=True)
class Resume:
    """Carry on a run after its server died: rounds up to `after_round` are done and
    `model` is their aggregate."""

    after_round: int
    model: StoredModel


@dataclass(frozen=True)
class RunSpec:
    job_id: int
    project: str
    config: FLConfig
    edges: list[str]  # device ids, in partition order
    artifacts_dir: Path
    task: TaskSpec
    join_timeout_s: float = 60.0
    init_model: StoredModel | None = None  # start from another run's aggregate
    resume: Resume | None = None
    direct: DirectPlan | None = None  # big models beside the hub; None: all over the hub
    # Device id → the edge's name (the run's log names edges so), and what the control
    # center knew of it when the run started ("never connected", "offline since …").
    edge_names: dict[str, str] = field(default_factory=dict)
    edge_states: dict[str, str] = field(default_factory=dict)


@dataclass
class RunOutcome:
    state: str
    rounds_done: int
    reason: str = ""
    test_accuracy: float | None = None
    history: list[dict] = field(default_factory=list)
