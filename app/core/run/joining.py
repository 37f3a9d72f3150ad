"""How a run begins: every edge of the job invited (its partition, the config, the task and,
for an operator's task, the archive), then the server waits until each has joined or
refused, or the join deadline; too few joined and the run fails naming the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from app.core.run.members import RunMembers
from app.core.run.protocol import JOIN
from app.core.run.spec import RunSpec
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType


def invite_edges(
    hub: Hub,
    spec: RunSpec,
    members: RunMembers,
    stop: threading.Event,
    say: Callable[[str, str], None],
    extra: Callable[[str], dict] | None = None,
) -> bool:
    """False if the run was stopped meanwhile; RuntimeError if too few joined. `extra(edge)`:
    what else an edge's invitation says (a server-free run: its neighbours)."""
    cfg, task = spec.config, spec.task
    payload = {} if task.builtin else {"task_archive": np.frombuffer(task.archive, np.uint8)}
    for index, edge in enumerate(spec.edges):
        body = {
            "action": JOIN,
            "project": spec.project,
            "job_id": spec.job_id,
            "partition": index,
            "num_partitions": len(spec.edges),
            "config": cfg.model_dump(mode="json"),
            "task": task.announcement(),
            **(extra(edge) if extra else {}),
        }
        hub.publish(
            topics.edge_topic(edge, "control"),
            Message(MessageType.CONTROL, job_id=spec.job_id, body=body, tensors=payload),
        )
    deadline = time.monotonic() + spec.join_timeout_s
    while time.monotonic() < deadline and len(members.alive()) + len(members.refusals()) < len(
        spec.edges
    ):
        if stop.wait(0.05):
            return False
    joined, refused = members.alive(), members.refusals()
    for edge, reason in sorted(refused.items(), key=lambda item: members.shown(item[0])):
        say("ERROR", f"edge {members.shown(edge)} refused the run: {reason}")
    devices = members.devices(joined)
    say("INFO", f"{len(joined)} of {len(spec.edges)} edges joined, on {', '.join(devices) or '-'}")
    if len(joined) < cfg.training.min_clients:
        raise RuntimeError(
            f"only {len(joined)} of {len(spec.edges)} edges joined; min_clients is "
            f"{cfg.training.min_clients}. Not joined: "
            + members.not_joined(spec.edge_states, spec.join_timeout_s)
        )
    return True
