"""What the FL server tells the control center about its run: log lines, status, metrics,
and each stored model (written under the run's folder, announced with its SHA-256)."""

from __future__ import annotations

import logging
from pathlib import Path

from app.core.artifacts import StoredArtifact, save_weights
from app.core.run.directory import RunDir
from app.core.run.protocol import RunAddress, log_message
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType

log = logging.getLogger("app.core.run.server")


class ServerOutbox:
    def __init__(self, hub: Hub, run: RunAddress, artifacts_dir: Path, total_rounds: int) -> None:
        self.hub, self.run, self.total_rounds = hub, run, total_rounds
        self.run_dir = RunDir(artifacts_dir, run.job_id)

    def say(self, level: str, text: str) -> None:
        getattr(log, level.lower(), log.info)("run %s: %s", self.run.job_id, text)
        self.hub.publish(self.run.topic(topics.SERVER, "logs"), log_message(self.run, level, text))

    def status(self, state: str, round_: int, **extra) -> None:
        body = {"state": state, "round": round_, "total_rounds": self.total_rounds, **extra}
        self.hub.publish(
            self.run.topic(topics.SERVER, "status"),
            Message(MessageType.STATUS, job_id=self.run.job_id, round=round_, body=body),
        )

    def store(self, rnd: int, node: str, weights) -> StoredArtifact:
        job_id = self.run.job_id
        stored = save_weights(
            self.run_dir.model(rnd, node),
            weights,
            {"job_id": str(job_id), "round": str(rnd), "node": node},
        )
        body = {
            "round": rnd,
            "node": node,
            "path": str(stored.path),
            "sha256": stored.sha256,
            "bytes": stored.bytes,
        }
        self.hub.publish(
            self.run.topic(topics.SERVER, "artifacts"),
            Message(MessageType.ARTIFACT, job_id=job_id, round=rnd, body=body),
        )
        return stored

    def metrics(self, rnd: int, values: dict[str, float]) -> None:
        self.hub.publish(
            self.run.topic(topics.SERVER, "metrics"),
            Message(
                MessageType.METRICS,
                job_id=self.run.job_id,
                round=rnd,
                body={"node": "aggregate", "values": values},
            ),
        )
