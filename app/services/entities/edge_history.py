"""What an edge did over time: the runs it took part in, its load, its connection history
and its last error (the edge detail view); how many edges were online, hour by hour (the
dashboard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from app.services.entities.edges import _record, get_edge
from app.services.entities.jobs import total_rounds
from app.services.entities.records import EdgeRecord, Record
from app.services.security.auth import Actor, require
from app.storage import Database
from app.storage.models import (
    Edge,
    EdgeEvent,
    EdgeStatus,
    Job,
    JobEdge,
    LogLine,
    Role,
    SystemSample,
    utcnow,
)

LOAD_POINTS = 1500  # a day of 1 Hz samples, averaged down to what a plot can show
RUNS_SHOWN = 200  # the latest; an edge's detail is not its archive
CHANGES_SHOWN = 500


@dataclass(frozen=True)
class EdgeRun(Record):
    job_id: int
    name: str
    project: str
    status: str
    rounds: str
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class StatusChange(Record):
    at: datetime
    status: str


@dataclass(frozen=True)
class LoadPoint(Record):
    at: datetime
    cpu: float
    mem: float
    gpu: float | None


@dataclass(frozen=True)
class EdgeError(Record):
    at: datetime
    job_id: int
    text: str


@dataclass(frozen=True)
class EdgeDetail(Record):
    edge: EdgeRecord
    runs: list[EdgeRun] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)  # newest first
    load: list[LoadPoint] = field(default_factory=list)
    last_error: EdgeError | None = None


def decimate(rows: list[tuple], points: int) -> list[LoadPoint]:
    """Average consecutive samples into at most `points` (a spike still moves its mean)."""
    if not rows:
        return []
    size = max(1, -(-len(rows) // points))
    out = []
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        gpus = [r[3] for r in chunk if r[3] is not None]
        out.append(
            LoadPoint(
                at=chunk[-1][0],
                cpu=sum(r[1] for r in chunk) / len(chunk),
                mem=sum(r[2] for r in chunk) / len(chunk),
                gpu=sum(gpus) / len(gpus) if gpus else None,
            )
        )
    return out


def online_per_hour(
    before: dict[int, str], changes: list[tuple[int, datetime, str]], start: datetime, hours: int
) -> list[int]:
    """Edges online at some moment of each hour from `start`: `before` holds each edge's
    status when the window opens, `changes` its changes in it, ordered by time."""
    online = {e for e, status in before.items() if status != EdgeStatus.OFFLINE.value}
    counts, i = [], 0
    for hour in range(hours):
        end = start + timedelta(hours=hour + 1)
        seen = set(online)
        while i < len(changes) and changes[i][1] < end:
            edge_id, _, status = changes[i]
            if status == EdgeStatus.OFFLINE.value:
                online.discard(edge_id)
            else:
                online.add(edge_id)
                seen.add(edge_id)
            i += 1
        counts.append(len(seen))
    return counts


class EdgeHistoryService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def detail(self, actor: Actor, name: str, hours: float = 24) -> EdgeDetail:
        require(actor, Role.VIEWER, "view edges")
        since = utcnow() - timedelta(hours=hours)
        with self._db.session() as s:
            edge = get_edge(s, name)
            runs = s.execute(
                select(Job)
                .join(JobEdge, JobEdge.job_id == Job.id)
                .where(JobEdge.edge_id == edge.id)
                .order_by(Job.id.desc())
                .limit(RUNS_SHOWN)
            ).scalars()
            run_rows = [
                EdgeRun(
                    job_id=j.id,
                    name=j.name,
                    project=j.project.name,
                    status=j.status,
                    rounds=f"{j.current_round}/{total_rounds(j)}",
                    started_at=j.started_at,
                    finished_at=j.finished_at,
                )
                for j in runs
            ]
            changes = [
                StatusChange(at, status)
                for at, status in s.execute(
                    select(EdgeEvent.at, EdgeEvent.status)
                    .where(EdgeEvent.edge_id == edge.id)
                    .order_by(EdgeEvent.at.desc(), EdgeEvent.id.desc())
                    .limit(CHANGES_SHOWN)
                )
            ]
            load = s.execute(
                select(SystemSample.at, SystemSample.cpu, SystemSample.mem, SystemSample.gpu)
                .where(SystemSample.edge_id == edge.id, SystemSample.at >= since)
                .order_by(SystemSample.at)
            ).all()
            error = s.execute(
                select(LogLine.at, LogLine.job_id, LogLine.text)
                .where(
                    or_(LogLine.node == edge.name, LogLine.node == edge.device_id),
                    LogLine.level == "ERROR",
                )
                .order_by(LogLine.at.desc())
                .limit(1)
            ).first()
            return EdgeDetail(
                edge=_record(edge),
                runs=run_rows,
                changes=changes,
                load=decimate([tuple(r) for r in load], LOAD_POINTS),
                last_error=EdgeError(*error) if error else None,
            )

    def online_per_hour(
        self, actor: Actor, hours: int = 24, now: datetime | None = None
    ) -> tuple[datetime, list[int]]:
        """The start of the first hour, and how many edges were online in each hour."""
        require(actor, Role.VIEWER, "view edges")
        end = (now or utcnow()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        start = end - timedelta(hours=hours)
        with self._db.session() as s:
            last_before = (
                select(EdgeEvent.edge_id, func.max(EdgeEvent.id).label("last"))
                .where(EdgeEvent.at < start)
                .group_by(EdgeEvent.edge_id)
                .subquery()
            )
            before = dict(
                s.execute(
                    select(EdgeEvent.edge_id, EdgeEvent.status).join(
                        last_before, EdgeEvent.id == last_before.c.last
                    )
                ).all()
            )
            # Edges with no history yet count as they stand now.
            known = set(s.scalars(select(EdgeEvent.edge_id).distinct()))
            for edge_id, status in s.execute(select(Edge.id, Edge.status)):
                if edge_id not in known:
                    before[edge_id] = status
            changes = [
                (e, at, status)
                for e, at, status in s.execute(
                    select(EdgeEvent.edge_id, EdgeEvent.at, EdgeEvent.status)
                    .where(EdgeEvent.at >= start)
                    .order_by(EdgeEvent.at, EdgeEvent.id)
                )
            ]
        return start, online_per_hour(before, changes, start, hours)
