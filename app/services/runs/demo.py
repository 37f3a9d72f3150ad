"""A local demo cluster: embedded hub, N edge agents, one FedAvg run on digits, recorded.

Edges run as real processes (`feddeck edge`) on the mqtt and grpc backends; on the local
backend, which lives in one process, they run as threads.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.backends.embedded import start_embedded_hub
from app.backends.factory import create_hub
from app.config import Settings
from app.core.fl_config import FLConfig, config_from_toml
from app.errors import InvalidInput
from app.resource_dir import RESOURCES
from app.services.registry import Services
from app.services.runs.events import LiveEvent
from app.services.runs.ingest import IngestService
from app.services.runs.launcher import JobLauncher
from app.services.runs.local_edges import LocalEdges
from app.services.security.auth import SYSTEM
from app.services.security.hub_access import HubAccess
from app.wire.transports import embeddable

SAMPLE_CONFIG = RESOURCES / "configs" / "digits-mlp-fedavg.toml"
DEMO_PROJECT = "demo"


@dataclass
class DemoOptions:
    edges: int = 4
    rounds: int = 20
    backend: str = "mqtt"
    heartbeat_s: float = 1.0
    seed: int = 0
    round_timeout_s: float = 60.0
    device: str = "auto"  # where the edges train: auto (a GPU when there is one), cpu, cuda[:N]
    secure_aggregation: bool = False  # the server learns only the sum of the updates
    decentralized: bool = False  # no server: push-sum over a ring plus random links


@dataclass
class DemoCluster:
    """The running pieces; `close()` stops them all."""

    settings: Settings
    services: Services
    hub_url: str
    hub: object
    ingest: IngestService
    launcher: JobLauncher
    embedded: object
    edge_names: list[str]
    edges: LocalEdges

    @property
    def edge_procs(self) -> list[subprocess.Popen]:
        return self.edges.procs

    def close(self) -> None:
        self.launcher.shutdown()
        self.edges.stop()
        self.ingest.drain(10)
        self.ingest.stop()
        self.hub.close()
        self.embedded.stop()


def demo_config(options: DemoOptions) -> FLConfig:
    base = config_from_toml(SAMPLE_CONFIG.read_text(), str(SAMPLE_CONFIG))
    training = base.training.model_copy(
        update={
            "rounds": options.rounds,
            "seed": options.seed,
            "round_timeout_s": options.round_timeout_s,
            "min_clients": min(base.training.min_clients, options.edges),
            "device": options.device,
        }
    )
    if options.decentralized:
        if options.secure_aggregation:
            raise InvalidInput("a run without a server has no secure aggregation (a server's)")
        if options.edges < 2:
            raise InvalidInput("a run without a server needs at least 2 edges")
        return FLConfig.model_validate(
            {
                **base.model_dump(mode="json", exclude_none=True),
                "name": "demo-digits-pushsum",
                "algorithm": {"name": "pushsum"},
                "decentralized": {"graph": "ring", "random_links": options.edges, "seed": 1},
                "training": training.model_dump(mode="json"),
            }
        )
    if not options.secure_aggregation:
        return base.model_copy(update={"name": "demo-digits-fedavg", "training": training})
    if options.edges < 3:
        raise InvalidInput("secure aggregation needs at least 3 edges")
    return FLConfig.model_validate(
        {
            **base.model_dump(mode="json", exclude_none=True),
            "name": "demo-digits-secure",
            "training": {**training.model_dump(mode="json"), "min_clients": 3},
            "secure_aggregation": {"enabled": True},
        }
    )


def _register_edges(services: Services, count: int) -> list[tuple[str, str, str]]:
    """(name, device id, token) for demo-edge-1..N; re-registered so tokens are fresh."""
    existing = {e.name for e in services.edges.list(SYSTEM)}
    out = []
    for i in range(1, count + 1):
        name = f"demo-edge-{i}"
        if name in existing:
            services.edges.remove(SYSTEM, name)
        new = services.edges.register(SYSTEM, name, tags=["demo"])
        out.append((name, new.edge.device_id, new.token))
    return out


def start_center(
    settings: Settings, services: Services, backend: str, heartbeat_s: float = 1.0
) -> DemoCluster:
    """A control center's live side on this machine, no edges yet: an embedded hub (or a
    local router), a hub client, ingest, and a launcher (in-process servers on `local`)."""
    transport = embeddable().get(backend)
    if transport is None:
        raise InvalidInput(f"--backend must be one of {', '.join(embeddable())}")
    embedded = start_embedded_hub(
        backend,
        limits=settings.wire,
        access=HubAccess.for_settings(services.db, settings),
    )
    in_process = not transport.crosses_processes
    hub_url = f"{transport.scheme}://demo-{time.monotonic_ns()}" if in_process else embedded.url
    hub = create_hub(hub_url, "center", token=settings.hub_token, limits=settings.wire)
    hub.connect()
    ingest = IngestService(services.db, hub).start()
    launcher = JobLauncher(
        services,
        settings,
        hub,
        hub_url,
        in_process=in_process,
        events=ingest.events,
        standby=True,
    )
    edges = LocalEdges(settings, hub_url, heartbeat_s)
    return DemoCluster(settings, services, hub_url, hub, ingest, launcher, embedded, [], edges)


def start_cluster(settings: Settings, services: Services, options: DemoOptions) -> DemoCluster:
    if options.edges < 1 or options.edges > 64:
        raise InvalidInput("--edges must be between 1 and 64")
    cluster = start_center(settings, services, options.backend, options.heartbeat_s)
    for name, device, token in _register_edges(services, options.edges):
        cluster.edge_names.append(name)
        cluster.edges.start(name, device, token)
    return cluster


def create_demo_job(
    services: Services, edge_names: list[str], options: DemoOptions, actor=SYSTEM
) -> int:
    """Queue the demo run (project, group and config made on first use)."""
    projects = {p.name for p in services.projects.list(actor)}
    if DEMO_PROJECT not in projects:
        groups = {g.name for g in services.groups.list(actor)}
        if DEMO_PROJECT not in groups:
            services.groups.add(SYSTEM, DEMO_PROJECT, "demo users")
        services.projects.create(actor, DEMO_PROJECT, DEMO_PROJECT, "local demo cluster")
    config = services.configs.save(actor, demo_config(options))
    job = services.jobs.create(
        actor,
        f"demo {options.backend} x{len(edge_names)}"
        + (" without a server" if options.decentralized else ""),
        DEMO_PROJECT,
        config.name,
        edge_names,
        config_version=config.version,
        tags=["demo", options.backend],
    )
    return job.id


def wait_online(services: Services, names: list[str], timeout_s: float = 90.0) -> None:
    """Until the demo's edges are connected: a run invites its edges once, and one still
    starting would miss its invitation (a run without a server starts at once)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = {e.name: e.status for e in services.edges.list(SYSTEM)}
        waiting = [n for n in names if status.get(n) not in ("IDLE", "TRAINING")]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise InvalidInput(f"demo edges did not come online: {', '.join(waiting)}")
        time.sleep(0.1)


def run_demo(
    settings: Settings, options: DemoOptions, on_event: Callable[[LiveEvent], None] | None = None
) -> dict:
    """Run the whole demo headless; returns the summary."""
    services = Services.open(settings)
    started = time.monotonic()
    cluster = start_cluster(settings, services, options)
    done = threading.Event()
    try:
        if on_event:
            cluster.ingest.events.subscribe(on_event)
        wait_online(services, cluster.edge_names)
        job_id = create_demo_job(services, cluster.edge_names, options)
        cluster.launcher.on_exit = lambda _id: done.set()
        cluster.launcher.start(SYSTEM, job_id)
        done.wait()
        cluster.ingest.settle()
        job = services.jobs.get(SYSTEM, job_id)
        accuracy = [
            m.value
            for m in services.run_data.metrics(SYSTEM, job_id)
            if m.node == "aggregate" and m.name == "test_accuracy"
        ]
        return {
            "job_id": job_id,
            "backend": options.backend,
            "edges": options.edges,
            "rounds": job.current_round,
            "status": job.status,
            "reason": job.status_reason,
            "final_test_accuracy": accuracy[-1] if accuracy else None,
            "wall_seconds": round(time.monotonic() - started, 2),
            "counts": services.run_data.counts(job_id),
            "data_dir": str(settings.data_dir),
        }
    finally:
        cluster.close()
        services.close()
