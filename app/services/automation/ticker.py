"""Schedules and flows, driven together: one thread that ticks a Scheduler and a
FlowEngine once a second. The control center runs one while the window is open;
`feddeck scheduler` runs one headless. Leases in the database keep them from doubling up.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime

from app.services.automation.flow_engine import FlowEngine, StartJob
from app.services.automation.scheduler import Scheduler
from app.services.automation.schedules import FireRecord
from app.services.security.auth import Actor
from app.storage.models import utcnow

log = logging.getLogger(__name__)


def new_owner(role: str) -> str:
    """A lease owner id that names the process, for whoever reads the table."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:64]


class Automation:
    def __init__(
        self,
        services,
        start_job: StartJob,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        lease_s: float = 30.0,
    ) -> None:
        self.services = services
        self.owner = owner
        self.flows = FlowEngine(services, start_job, owner, clock, lease_s)
        self.scheduler = Scheduler(services, start_job, self.start_flow, owner, clock, lease_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[], None] | None = None

    def start_flow(self, actor: Actor, name: str, trigger: str = "manual") -> int:
        """Start a run of flow `name`, held by this engine; its first steps start now."""
        run = self.services.flows.start_run(actor, name, trigger, owner=self.owner)
        self.flows.advance(run.id)
        return run.id

    def tick(self, on_fire: Callable[[FireRecord], None] | None = None) -> bool:
        """One pass: fire due schedules, advance flows. True when anything changed."""
        fired = self.scheduler.tick()
        for fire in fired:
            if on_fire is not None:
                on_fire(fire)
        changed = self.flows.tick()
        return bool(fired or changed)

    def run(
        self,
        stop: threading.Event,
        period_s: float = 1.0,
        on_fire: Callable[[FireRecord], None] | None = None,
    ) -> None:
        """Tick until `stop` is set."""
        while not stop.is_set():
            try:
                if self.tick(on_fire) and self.on_change is not None:
                    self.on_change()
            except Exception:  # the database may be briefly busy; try again next tick
                log.exception("automation tick failed")
            stop.wait(period_s)

    def start(self, period_s: float = 1.0) -> Automation:
        """Tick on a thread of its own (the window's way)."""
        self._thread = threading.Thread(
            target=self.run, args=(self._stop, period_s), daemon=True, name="feddeck-automation"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.scheduler.release()
        self.flows.release()
