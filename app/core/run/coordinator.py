"""What the coordinator of every protocol has (core/protocols): the run's address, its
members and their liveness, an outbox to the control center, one queue the hub's dispatch
thread fills and the run's own thread reads, and a stop that is asked for, by the operator
over the hub or by the engine under the run."""

from __future__ import annotations

import queue
import threading

from app.core.run.liveness import RunLiveness
from app.core.run.members import RunMembers
from app.core.run.outbox import ServerOutbox
from app.core.run.protocol import STOP, RunAddress
from app.core.run.spec import RunSpec
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType


class Stopped(Exception):
    """Raised inside a coordinator's run when a stop was asked for: it ends the run."""


class RunCoordinator:
    def __init__(self, hub: Hub, spec: RunSpec) -> None:
        self.hub, self.spec, self.config = hub, spec, spec.config
        self.run = RunAddress(spec.project, spec.job_id)
        self._inbox: queue.Queue[tuple[str, Message]] = queue.Queue()
        self._stop = threading.Event()
        self._failure: str | None = None  # why the run is ended as FAILED, if it is
        self.members = RunMembers(spec.edges, spec.edge_names)
        self.out = ServerOutbox(hub, self.run, spec.artifacts_dir, spec.config.training.rounds)
        self.liveness = RunLiveness(self.members, spec.edges, self.say, self._inbox)

    def say(self, level: str, text: str) -> None:
        self.out.say(level, text)

    def request_stop(self, failure: str | None = None) -> None:
        """End the run at its next step: STOPPED, as the operator asked, or, given
        `failure`, FAILED with that reason (the engine under the run is ending it)."""
        if failure and not self._stop.is_set():
            self._failure = failure
        self._stop.set()
        self._inbox.put(("stop", Message(MessageType.CONTROL)))

    # -- the hub's dispatch thread: only queue ------------------------------------------
    def _on_message(self, topic: str, message: Message) -> None:
        self._inbox.put((topic, message))

    def _on_control(self, topic: str, message: Message) -> None:
        if message.body.get("action") == STOP:
            self.request_stop()
