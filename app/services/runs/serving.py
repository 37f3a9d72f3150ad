"""Serving one run: read its job, connect to the hub, run the FL server, write how it
ended. The same steps whether the server is its own process (`feddeck server`) or a thread
of the control center (tests, the in-process demo)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.config import DirectSettings, Settings
from app.core.artifacts import describe_write_error
from app.core.fl_config import parse_config
from app.core.run.direct_models import DirectPlan
from app.core.run.directory import RunDir
from app.core.run.spec import Resume, RunOutcome, RunSpec, StoredModel
from app.core.tasks.builtin import builtin_sha256
from app.errors import InvalidInput, NotFound
from app.services.registry import SYSTEM, Services
from app.wire.direct import address_towards
from app.wire.transports import parse_hub_url

log = logging.getLogger(__name__)


def build_run_spec(
    services: Services, settings: Settings, job_id: int, resume: bool = False
) -> RunSpec:
    """Everything the server needs from the database, read once before it starts."""
    job = services.jobs.get(SYSTEM, job_id)
    edges = [services.edges.get(SYSTEM, name) for name in job.edges]
    devices = [e.device_id for e in edges]
    init_model = None
    if job.init_model:
        try:
            init_model = StoredModel.from_json(job.init_model)
        except ValueError as exc:
            raise InvalidInput(f"job {job_id}: initial model: {exc}") from None
    last = services.run_data.last_aggregate(job_id) if resume else None
    config = parse_config(job.config_snapshot, f"job {job_id} config")
    if job.task_name is None:  # a job from before tasks: the built-in task of its dataset
        name = config.task_name
        task = services.tasks.shipped(SYSTEM, name, 0, builtin_sha256(name))
    else:
        task = services.tasks.shipped(SYSTEM, job.task_name, job.task_version, job.task_sha256)
    return RunSpec(
        job.id,
        job.project,
        config,
        devices,
        settings.artifacts_dir,
        task,
        init_model=init_model,
        edge_names={e.device_id: e.name for e in edges},
        edge_states={e.device_id: known_state(e.status, e.last_seen) for e in edges},
        resume=(
            Resume(last.round, StoredModel(Path(last.path), last.sha256, job_id, last.round))
            if last
            else None
        ),
    )


def known_state(status: str, last_seen: datetime | None) -> str:
    """What the control center knows of an edge, for a run that waits for it."""
    if last_seen is None:
        return "never connected"
    seen = last_seen if last_seen.tzinfo else last_seen.replace(tzinfo=UTC)
    when = seen.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if status == "OFFLINE":
        return f"offline since {when}"
    return f"online when the run started, last seen {when}"


def serve_run(
    services: Services,
    settings: Settings,
    job_id: int,
    hub_url: str,
    *,
    resume: bool = False,
    connect_timeout: float = 30.0,
    on_server: Callable[[object], None] | None = None,
) -> RunOutcome:
    """Serve run `job_id` to its end and record the outcome in its run folder.
    `on_server` sees the run's coordinator (the FLServer, or its protocol's: core/protocols)
    before it starts (to wire a stop request to it)."""
    from app.backends.factory import create_hub
    from app.core.protocols import load, protocol_of
    from app.wire.transports import client_url

    run_dir = RunDir(settings.artifacts_dir, job_id)
    try:
        spec = build_run_spec(services, settings, job_id, resume=resume)
    except (InvalidInput, NotFound) as exc:
        # A stored task or config that fails its checks fails the same way in a restarted
        # server: say so once, in the outcome the launcher reads, rather than retry.
        done = services.jobs.get(SYSTEM, job_id).current_round
        run_dir.write_outcome("FAILED", f"cannot start the run: {exc}", done)
        raise
    url = client_url(hub_url)
    spec = dataclasses.replace(spec, direct=direct_plan(settings.direct, url))
    hub = create_hub(url, f"server-{job_id}", token=settings.hub_token, limits=settings.wire)
    try:
        hub.connect(timeout=connect_timeout)
        server = load(protocol_of(spec.config.algorithm.name).coordinator)(hub, spec)
        if on_server is not None:
            on_server(server)
        outcome = server.serve()
    finally:
        hub.close()
    try:
        run_dir.write_outcome(outcome.state, outcome.reason, outcome.rounds_done, outcome.history)
    except OSError as exc:  # the status went out over the hub; the launcher settles on it
        log.error("run %s: %s", job_id, describe_write_error(exc, "the run's outcome"))
    return outcome


def direct_plan(settings: DirectSettings, hub_url: str) -> DirectPlan | None:
    """Where a run's server offers big models beside the hub: on the address this machine
    reaches the hub from (so edges that reach the hub likely reach it too; loopback for a
    hub on loopback), with TLS when the hub has TLS."""
    if not settings.enabled or parse_hub_url(hub_url).transport.ranks:
        return None  # ranks move big models as few large frames already
    host = settings.host or address_towards(hub_url)
    return DirectPlan(host, int(settings.min_mib * (1 << 20)), parse_hub_url(hub_url).tls)
