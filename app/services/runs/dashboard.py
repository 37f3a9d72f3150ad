"""What a lab manager looks at first: the runs going now and how they go, how many edges
were online over the last day, what failed in it and why, and what fires next."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.services.entities.records import JobRecord, Record
from app.services.registry import Services
from app.services.security.auth import Actor
from app.storage.vocabulary import utcnow

GOING = ("QUEUED", "STARTING", "RUNNING")
FAILURES_SHOWN = 50
FIRES_SHOWN = 10


@dataclass(frozen=True)
class RunningRun(Record):
    job: JobRecord
    accuracy: list[float]  # the aggregate's test accuracy, round by round


@dataclass(frozen=True)
class NextFire(Record):
    schedule: str
    at: datetime
    trigger: str
    target: str  # "config digits-mlp on tag demo"


@dataclass(frozen=True)
class Dashboard(Record):
    now: datetime
    edges: Counter
    jobs: Counter
    running: list[RunningRun] = field(default_factory=list)
    online_since: datetime | None = None
    online: list[int] = field(default_factory=list)  # edges online in each hour
    failures: list[JobRecord] = field(default_factory=list)  # newest first
    next_fires: list[NextFire] = field(default_factory=list)


def _target(template: dict) -> str:
    if template.get("flow"):
        return f"flow {template['flow']}"
    where = (
        f"tag {template['edge_tag']}"
        if template.get("edge_tag")
        else ", ".join(template.get("edges") or []) or "its edges"
    )
    return f"{template.get('config', '?')} on {where}"


def load_dashboard(services: Services, actor: Actor, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    jobs = services.jobs.list(actor)
    going = [j for j in jobs if j.status in GOING]
    curves = services.run_data.accuracy_curves(actor, [j.id for j in going])
    day_ago = now - timedelta(days=1)
    failures = [
        j for j in jobs if j.status == "FAILED" and (j.finished_at or j.created_at) >= day_ago
    ][:FAILURES_SHOWN]
    fires = [
        NextFire(s.name, s.next_fire_at, s.trigger, _target(s.template))
        for s in services.schedules.list(actor)
        if s.enabled and s.next_fire_at is not None
    ]
    fires.sort(key=lambda f: f.at)
    since, online = services.edge_history.online_per_hour(actor, 24, now)
    return Dashboard(
        now=now,
        edges=Counter(e.status for e in services.edges.list(actor)),
        jobs=Counter(j.status for j in jobs),
        running=[RunningRun(j, curves.get(j.id, [])) for j in going],
        online_since=since,
        online=online,
        failures=failures,
        next_fires=fires[:FIRES_SHOWN],
    )
