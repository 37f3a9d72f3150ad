"""What server and edges say to each other about one run: topics and message bodies."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.wire import topics
from app.wire.messages import Message, MessageType

# Control actions
JOIN, LEAVE, STOP = "join", "leave", "stop"
# Run states the server announces (the control center maps them onto Job status)
RUNNING, FINISHED, FAILED, STOPPED = "RUNNING", "FINISHED", "FAILED", "STOPPED"
JOINED = "JOINED"
REFUSED = "REFUSED"  # an edge will not take part; the body says why


@dataclass(frozen=True)
class RunAddress:
    project: str
    job_id: int

    def topic(self, node: str, kind: str) -> str:
        return topics.run_topic(self.project, self.job_id, node, kind)

    def pattern(self, node: str = "+", kind: str = "#") -> str:
        return topics.run_pattern(self.project, self.job_id, node, kind)

    @property
    def model_down(self) -> str:
        return self.topic(topics.SERVER, "model/down")

    @property
    def server_control(self) -> str:
        return self.topic(topics.SERVER, "control")

    @property
    def center_control(self) -> str:
        return self.topic(topics.CENTER, "control")


def log_message(run: RunAddress | None, level: str, text: str) -> Message:
    return Message(
        MessageType.LOG, job_id=run.job_id if run else None, body={"level": level, "text": text}
    )


def finite_figures(values: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """The figures a message can carry (JSON has no NaN or infinity), and the names of
    those that were not finite: the loss of a model that diverged."""
    kept = {k: v for k, v in values.items() if math.isfinite(v)}
    return kept, sorted(set(values) - set(kept))
