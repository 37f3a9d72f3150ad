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

log = logging.getLogger(__name__)
ROSTER_TIMEOUT_S = 120.0
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
        return serve_run(services, settings, job_id, ranks_url, resume=resume, on_server=on_server)
    finally:
        inner.link.end_others("the run ended")  # their OFFLINE crosses to the center
        if center is not None:
            center.flush(10)
            center.close()
        inner.close()


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
