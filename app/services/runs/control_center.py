"""The control center's live side, without Qt: its hub (embedded if so configured), ingest,
the job launcher, and local demo edges. The window owns one and starts it off its thread."""

from __future__ import annotations

import logging

from app.backends.embedded import connect_joined, start_or_join
from app.backends.factory import create_hub
from app.config import Settings
from app.services.automation.ticker import Automation, new_owner
from app.services.registry import Services
from app.services.runs.events import EventBus, LiveEvent
from app.services.runs.ingest import IngestService
from app.services.runs.launch_requests import LaunchDesk
from app.services.runs.launcher import JobLauncher
from app.services.runs.local_edges import LocalEdges
from app.services.security.auth import Actor, require
from app.services.security.hub_access import HubAccess
from app.storage.models import Role
from app.wire.transports import client_url, embedded_kind

log = logging.getLogger(__name__)


class ControlCenter:
    def __init__(self, settings: Settings, services: Services, events: EventBus | None = None):
        self.settings, self.services = settings, services
        self.events = events or EventBus()
        self.embedded = None
        self.hub = None
        self.ingest: IngestService | None = None
        self.launcher: JobLauncher | None = None
        self.hub_url = client_url(settings.hub_url)
        self.local_edges: LocalEdges | None = None
        self.automation: Automation | None = None
        self.launch_desk: LaunchDesk | None = None

    def start(self) -> ControlCenter:
        """Blocking (seconds at most): run it on a worker thread."""
        kind = embedded_kind(self.settings.hub_url)
        if kind is not None and not kind.crosses_processes:
            self.hub_url = f"{kind.scheme}://center"
        elif kind is not None:
            access = HubAccess.for_settings(self.services.db, self.settings)
            self.embedded = start_or_join(kind.name, self.settings.wire, access)
            if self.embedded is None:  # another center or `feddeck hub` serves it
                log.warning("embedded %s hub's port is taken; joining what serves it", kind.name)
        self.hub = create_hub(
            self.hub_url, "center", token=self.settings.hub_token, limits=self.settings.wire
        )
        self.hub.on_state(lambda state: self.events.emit(_hub_event(state)))
        connect_joined(self.hub, self.settings.hub_url, self.embedded)
        self.ingest = IngestService(self.services.db, self.hub, self.events).start()
        self.local_edges = LocalEdges(self.settings, self.hub_url)
        self.launcher = JobLauncher(
            self.services,
            self.settings,
            self.hub,
            self.hub_url,
            in_process=self.hub_url.startswith("local://"),
            events=self.events,
            standby=True,
        )
        if not self.hub_url.startswith("local://"):
            # Runs this center had open before it went away: follow or settle them.
            self.launcher.recover()
            # `job start` in a shell hands its run to this center (and its standby)
            self.launch_desk = LaunchDesk(self.hub, self.services, self.launcher.start)
        # Schedules fire and flows advance while the window is open (a lease per schedule
        # and flow run keeps a headless `feddeck scheduler` from doing the same work).
        self.automation = Automation(self.services, self.launcher.start, new_owner("window"))
        self.automation.on_change = lambda: self.events.emit(LiveEvent("automation"))
        self.automation.start()
        return self

    def start_demo_edges(self, actor: Actor, count: int) -> list[str]:
        """Register `count` new demo edges and start an agent for each."""
        require(actor, Role.OPERATOR, "start demo edges")
        existing = {e.name for e in self.services.edges.list(actor)}
        names: list[str] = []
        n = 0
        while len(names) < count:
            n += 1
            name = f"demo-edge-{n}"
            if name in existing:
                continue
            new = self.services.edges.register(actor, name, tags=["demo"])
            self.local_edges.start(name, new.edge.device_id, new.token)
            names.append(name)
        return names

    def start_demo_run(self, actor: Actor, edges: int = 4, rounds: int = 20) -> int:
        """The one-click demo: enough demo edges online, then a FedAvg run on digits."""
        import time

        from app.services.runs.demo import DemoOptions, create_demo_job

        require(actor, Role.OPERATOR, "start the demo")

        def online() -> list[str]:
            return [
                e.name
                for e in self.services.edges.list(actor, tag="demo")
                if e.status in ("IDLE", "TRAINING")
            ]

        if len(online()) < edges:
            self.start_demo_edges(actor, edges - len(online()))
        deadline = time.monotonic() + 90
        while len(online()) < edges:
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo edges did not come online ({len(online())} of {edges})")
            time.sleep(0.25)
        backend = self.hub_url.split(":", 1)[0]
        options = DemoOptions(edges=edges, rounds=rounds, backend=backend)
        job_id = create_demo_job(self.services, online()[:edges], options, actor)
        self.launcher.start(actor, job_id)
        return job_id

    def close(self) -> None:
        if self.launch_desk:
            self.launch_desk.close()
        if self.automation:
            self.automation.stop()
        if self.local_edges:
            self.local_edges.stop()
        if self.launcher:
            self.launcher.shutdown()
        if self.ingest:
            self.ingest.drain(5)
            self.ingest.stop()
        if self.hub:
            self.hub.close()
        if self.embedded:
            self.embedded.stop()


def _hub_event(state):
    return LiveEvent("hub", data={"state": str(state)})
