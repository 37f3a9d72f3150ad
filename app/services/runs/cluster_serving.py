"""Rank 0 of a cluster run: it waits for every other rank's edge agent, makes those ranks
the job's edges, joins the rank world to the control center's hub and serves the run on
the rank world. Through the join the center hears the ranks as it hears edge agents:
their status, load samples, metrics, logs and the server's artifacts; its Stop comes back."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from app.config import Settings
from app.core.run.directory import RunDir
from app.core.run.protocol import RunAddress
from app.core.run.spec import RunOutcome
from app.errors import FedDeckError, InvalidInput
from app.services.registry import SYSTEM, Services
from app.services.runs.serving import serve_run
from app.wire import topics
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)
ROSTER_TIMEOUT_S = 120.0
LEAVE_TIMEOUT_S = 5.0  # for the ranks to say they left the run before they are ended
TO_CENTER = ("status", "metrics", "logs", "artifacts")  # what ingest stores of a run
_RANK = re.compile(r"-r(\d+)$")


def serve_cluster_run(
    services: Services,
    settings: Settings,
    job_id: int,
    center_url: str,
    ranks_url: str,
    *,
    resume: bool = False,
    on_server: Callable[[object], None] | None = None,
    roster_timeout: float = ROSTER_TIMEOUT_S,
) -> RunOutcome:
    from app.backends.bridge import bridge
    from app.backends.factory import create_hub
    from app.wire.transports import client_url

    job = services.jobs.get(SYSTEM, job_id)
    inner = create_hub(ranks_url, f"center-{job_id}", limits=settings.wire)
    inner.connect()
    center = None
    try:
        try:
            nodes = gather_ranks(inner, inner.link.size, roster_timeout)
            services.jobs.run_on_ranks(SYSTEM, job_id, {n: n for n in nodes})
        except FedDeckError as exc:  # no restart would change it: fail the run once
            done = services.jobs.get(SYSTEM, job_id).current_round
            RunDir(settings.artifacts_dir, job_id).write_outcome(
                "FAILED", f"cannot start the run: {exc}", done
            )
            raise
        log.info("run %s on %d ranks: %s", job_id, len(nodes) + 1, ", ".join(nodes))
        center = create_hub(
            client_url(center_url),
            f"cluster-{job_id}",
            token=settings.hub_token,
            limits=settings.wire,
        )
        center.connect(timeout=30)
        out = [topics.edge_pattern("+", kind) for kind in ("status", "system")]
        out += [topics.run_pattern(job.project, job_id, "+", kind) for kind in TO_CENTER]
        bridge(inner, center, out, [RunAddress(job.project, job_id).center_control])
        with RankStates(inner) as states:
            try:
                return serve_run(
                    services, settings, job_id, ranks_url, resume=resume, on_server=on_server
                )
            finally:
                states.wait_until_left(nodes, LEAVE_TIMEOUT_S)
    finally:
        inner.link.end_others("the run ended")  # their OFFLINE crosses to the center
        if center is not None:
            last_word(center, job.project, job_id, f"the run's {inner.link.size} ranks ended")
            center.close()
        inner.close()


def last_word(center, project: str, job_id: int, text: str, timeout: float = 10.0) -> None:
    """Say `text` in the run's log through the center's hub and wait until it comes back:
    then the hub has passed on everything the bridge sent before it (a broker's PUBACK
    only says it has a message, not that its subscribers do)."""
    back = threading.Event()
    topic = topics.run_topic(project, job_id, topics.CENTER, "logs")
    sub = center.subscribe(topic, lambda _topic, message: back.set())
    center.publish(
        topic, Message(MessageType.LOG, job_id=job_id, body={"level": "INFO", "text": text})
    )
    if not back.wait(timeout):
        log.warning(
            "the control center's hub did not pass on the run's last messages in %.0f s", timeout
        )
    center.unsubscribe(sub)


class RankStates:
    """The last state each rank's edge agent announced, to let them leave the run (and say
    so in its log) before rank 0 ends them."""

    def __init__(self, hub) -> None:
        self.hub = hub
        self.states: dict[str, str] = {}
        self.changed = threading.Condition()

    def __enter__(self) -> RankStates:
        self.sub = self.hub.subscribe(topics.edge_pattern("+", "status"), self._on_status)
        return self

    def __exit__(self, *exc) -> None:
        self.hub.unsubscribe(self.sub)

    def _on_status(self, _topic: str, message) -> None:
        with self.changed:
            self.states[message.sender] = message.body.get("state", "")
            self.changed.notify_all()

    def wait_until_left(self, nodes: list[str], timeout: float) -> bool:
        def left() -> bool:
            return all(self.states.get(n) in ("IDLE", "OFFLINE") for n in nodes)

        with self.changed:
            return self.changed.wait_for(left, timeout)


def gather_ranks(hub, size: int, timeout: float) -> list[str]:
    """The node ids of ranks 1..size-1, each heard from (an announcement or a heartbeat);
    refused, naming the silent ranks, if they are not all heard within `timeout` s."""
    heard: dict[int, str] = {}
    all_in = threading.Event()

    def on_edge(topic: str, message) -> None:
        match = _RANK.search(message.sender)
        if match and 0 < int(match[1]) < size:
            heard[int(match[1])] = message.sender
            if len(heard) == size - 1:
                all_in.set()

    sub = hub.subscribe(topics.edge_pattern("+", "#"), on_edge)
    started = time.monotonic()
    try:
        if not all_in.wait(timeout):
            silent = sorted(set(range(1, size)) - set(heard))
            raise InvalidInput(
                f"rank(s) {', '.join(map(str, silent))} of {size} started no edge agent within "
                f"{timeout:.0f} s (see the run's server log for their output)"
            )
    finally:
        hub.unsubscribe(sub)
    log.info("all %d ranks heard in %.1f s", size - 1, time.monotonic() - started)
    return [heard[r] for r in sorted(heard)]
