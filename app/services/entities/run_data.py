"""What a run recorded: metrics, logs, model artifacts, and its edges' system samples."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select

from app.core.artifacts import StoredArtifact, load_weights
from app.errors import InvalidInput, NotFound
from app.services.entities.job_status import LEVEL_ORDER
from app.services.entities.records import Record
from app.services.security.auth import SYSTEM, Actor, require
from app.storage import Database
from app.storage.models import (
    Edge,
    Job,
    JobEdge,
    LogLine,
    ModelArtifact,
    Role,
    RoundMetric,
    SystemSample,
    utcnow,
)


@dataclass(frozen=True)
class LogRecord(Record):
    at: datetime
    node: str
    level: str
    text: str


@dataclass(frozen=True)
class MetricRecord(Record):
    round: int
    node: str
    name: str
    value: float


@dataclass(frozen=True)
class ArtifactRecord(Record):
    id: int
    job_id: int
    round: int
    node: str
    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class SampleRecord(Record):
    edge: str
    at: datetime
    cpu: float
    mem: float
    gpu: float | None
    net_sent: int
    net_recv: int
    gpu_mem: float | None = None  # percent of the GPU's memory in use


class RunDataService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _job(self, s, job_id: int) -> Job:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id}")
        return job

    def last_aggregate(self, job_id: int) -> ArtifactRecord | None:
        """The run's latest aggregated model on record (where a restarted server resumes)."""
        models = [a for a in self.artifacts(SYSTEM, job_id) if a.node == "aggregate"]
        return models[-1] if models else None

    def discard_after(self, job_id: int, round_: int) -> int:
        """Forget metrics and models of rounds after `round_` (a round a crash cut short,
        about to be run again), so no round is counted twice. Returns rows removed."""
        with self._db.session() as s:
            removed = 0
            for model in (RoundMetric, ModelArtifact):
                result = s.execute(
                    delete(model).where(model.job_id == job_id, model.round > round_)
                )
                removed += result.rowcount or 0
            return removed

    def record_missed_rounds(
        self, job_id: int, history: list[dict], aggregate_file: Callable[[int], Path]
    ) -> list[int]:
        """What the server reported while no control center listened: each round's
        aggregate figures (from the server's outcome) not on record yet, figure by figure
        (a center back in time for a round's federated figures missed its test ones),
        and its aggregated model (from the run folder, hashed now). Returns the rounds
        that gained anything."""
        with self._db.session() as s:
            have = set(
                s.execute(
                    select(RoundMetric.round, RoundMetric.name).where(
                        RoundMetric.job_id == job_id, RoundMetric.node == "aggregate"
                    )
                ).tuples()
            )
            models = set(
                s.scalars(
                    select(ModelArtifact.round).where(
                        ModelArtifact.job_id == job_id, ModelArtifact.edge_id.is_(None)
                    )
                )
            )
            recorded = []
            for entry in history:
                rnd = entry.get("round")
                if not isinstance(rnd, int):
                    continue
                values = {
                    k: float(v)
                    for k, v in entry.items()
                    if k != "round"
                    and (rnd, k) not in have
                    and isinstance(v, int | float)
                    and math.isfinite(v)
                }
                s.add_all(
                    RoundMetric(job_id=job_id, round=rnd, node="aggregate", name=k, value=v)
                    for k, v in values.items()
                )
                path = aggregate_file(rnd)
                model = rnd not in models and path.is_file()
                if model:
                    data = path.read_bytes()
                    s.add(
                        ModelArtifact(
                            job_id=job_id,
                            round=rnd,
                            path=str(path),
                            sha256=hashlib.sha256(data).hexdigest(),
                            bytes=len(data),
                        )
                    )
                if values or model:
                    recorded.append(rnd)
            return recorded

    def record_round(
        self, job_id: int, rnd: int, figures: dict[str, float], model: StoredArtifact | None
    ) -> None:
        """A round's aggregate figures and model, from a run that reports here directly
        (the centralized baseline) rather than over a hub."""
        with self._db.session() as s:
            s.add_all(
                RoundMetric(job_id=job_id, round=rnd, node="aggregate", name=k, value=float(v))
                for k, v in figures.items()
                if math.isfinite(v)
            )
            if model is not None:
                s.add(
                    ModelArtifact(
                        job_id=job_id,
                        round=rnd,
                        path=str(model.path),
                        sha256=model.sha256,
                        bytes=model.bytes,
                    )
                )

    def note(self, job_id: int, node: str, level: str, text: str) -> None:
        """A log line from the control center itself (restarts, recoveries)."""
        with self._db.session() as s:
            s.add(LogLine(job_id=job_id, node=node, at=utcnow(), level=level, text=text))

    def logs(
        self,
        actor: Actor,
        job_id: int,
        node: str | None = None,
        min_level: str | None = None,
        contains: str | None = None,
        limit: int = 100_000,
    ) -> list[LogRecord]:
        require(actor, Role.VIEWER, "read logs")
        query = select(LogLine).where(LogLine.job_id == job_id)
        if node:
            query = query.where(LogLine.node == node)
        if min_level:
            level = min_level.upper()
            if level not in LEVEL_ORDER:
                raise InvalidInput(f"unknown log level {min_level!r}: use {', '.join(LEVEL_ORDER)}")
            query = query.where(LogLine.level.in_(LEVEL_ORDER[LEVEL_ORDER.index(level) :]))
        if contains:
            query = query.where(LogLine.text.contains(contains))
        with self._db.session() as s:
            self._job(s, job_id)
            rows = s.scalars(query.order_by(LogLine.at, LogLine.id).limit(limit)).all()
            return [LogRecord(r.at, r.node, r.level, r.text) for r in rows]

    def metrics(self, actor: Actor, job_id: int) -> list[MetricRecord]:
        require(actor, Role.VIEWER, "read metrics")
        with self._db.session() as s:
            self._job(s, job_id)
            rows = s.scalars(
                select(RoundMetric)
                .where(RoundMetric.job_id == job_id)
                .order_by(RoundMetric.round, RoundMetric.id)
            ).all()
            return [MetricRecord(r.round, r.node, r.name, r.value) for r in rows]

    def artifacts(self, actor: Actor, job_id: int) -> list[ArtifactRecord]:
        require(actor, Role.VIEWER, "list models")
        with self._db.session() as s:
            self._job(s, job_id)
            names = dict(s.execute(select(Edge.id, Edge.name)).tuples().all())
            rows = s.scalars(
                select(ModelArtifact)
                .where(ModelArtifact.job_id == job_id)
                .order_by(ModelArtifact.round, ModelArtifact.id)
            ).all()
            return [
                ArtifactRecord(
                    r.id,
                    r.job_id,
                    r.round,
                    "aggregate" if r.edge_id is None else names.get(r.edge_id, "?"),
                    r.path,
                    r.sha256,
                    r.bytes,
                )
                for r in rows
            ]

    def export_artifact(self, actor: Actor, artifact_id: int, target: Path) -> ArtifactRecord:
        """Copy a stored model to `target` after checking its SHA-256."""
        require(actor, Role.VIEWER, "export models")
        with self._db.session() as s:
            row = s.get(ModelArtifact, artifact_id)
            if row is None:
                raise NotFound(f"no model artifact {artifact_id}")
            record = ArtifactRecord(
                row.id,
                row.job_id,
                row.round,
                str(row.edge_id or "aggregate"),
                row.path,
                row.sha256,
                row.bytes,
            )
        try:
            load_weights(Path(record.path), record.sha256)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        Path(target).write_bytes(Path(record.path).read_bytes())
        return record

    def samples(
        self, actor: Actor, job_id: int, since: datetime | None = None
    ) -> list[SampleRecord]:
        """System samples of the run's edges (from `since`, else the run's whole span)."""
        require(actor, Role.VIEWER, "read system samples")
        with self._db.session() as s:
            job = self._job(s, job_id)
            start = since or job.started_at or job.created_at
            query = (
                select(SystemSample, Edge.name)
                .join(Edge, Edge.id == SystemSample.edge_id)
                .join(JobEdge, JobEdge.edge_id == Edge.id)
                .where(JobEdge.job_id == job_id)
                .where(SystemSample.at >= start)
            )
            if job.finished_at is not None:
                query = query.where(SystemSample.at <= job.finished_at)
            rows = s.execute(query.order_by(SystemSample.at)).all()
            return [
                SampleRecord(name, r.at, r.cpu, r.mem, r.gpu, r.net_sent, r.net_recv, r.gpu_mem)
                for r, name in rows
            ]

    def counts(self, job_id: int) -> dict[str, int]:
        """How much a run stored, for summaries."""
        with self._db.session() as s:
            job = self._job(s, job_id)
            edge_ids = [je.edge_id for je in job.edges]

            def count(model, *where) -> int:
                return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

            metric_rounds = s.scalar(
                select(func.count(func.distinct(RoundMetric.round))).where(
                    RoundMetric.job_id == job_id, RoundMetric.node == "aggregate"
                )
            )
            sample_edges = s.scalar(
                select(func.count(func.distinct(SystemSample.edge_id))).where(
                    SystemSample.edge_id.in_(edge_ids)
                )
            )
            return {
                "metrics": count(RoundMetric, RoundMetric.job_id == job_id),
                "metric_rounds": metric_rounds or 0,
                "samples": count(SystemSample, SystemSample.edge_id.in_(edge_ids)),
                "edges_with_samples": sample_edges or 0,
                "log_lines": count(LogLine, LogLine.job_id == job_id),
                "aggregate_artifacts": count(
                    ModelArtifact, ModelArtifact.job_id == job_id, ModelArtifact.edge_id.is_(None)
                ),
                "client_artifacts": count(
                    ModelArtifact,
                    ModelArtifact.job_id == job_id,
                    ModelArtifact.edge_id.is_not(None),
                ),
            }

    def accuracy_curves(self, actor: Actor, job_ids: list[int]) -> dict[int, list[float]]:
        """The aggregate's test accuracy round by round, for each of these runs."""
        require(actor, Role.VIEWER, "read metrics")
        if not job_ids:
            return {}
        query = (
            select(RoundMetric.job_id, RoundMetric.value)
            .where(
                RoundMetric.job_id.in_(job_ids),
                RoundMetric.node == "aggregate",
                RoundMetric.name == "test_accuracy",
            )
            .order_by(RoundMetric.job_id, RoundMetric.round)
        )
        curves: dict[int, list[float]] = {}
        with self._db.session() as s:
            for job_id, value in s.execute(query):
                curves.setdefault(job_id, []).append(value)
        return curves

    def latest_accuracy(self, actor: Actor) -> dict[int, float]:
        """Each run's latest aggregate test accuracy (for job lists)."""
        require(actor, Role.VIEWER, "read metrics")
        latest = (
            select(RoundMetric.job_id, func.max(RoundMetric.round).label("r"))
            .where(RoundMetric.node == "aggregate", RoundMetric.name == "test_accuracy")
            .group_by(RoundMetric.job_id)
            .subquery()
        )
        query = (
            select(RoundMetric.job_id, RoundMetric.value)
            .join(
                latest, (RoundMetric.job_id == latest.c.job_id) & (RoundMetric.round == latest.c.r)
            )
            .where(RoundMetric.node == "aggregate", RoundMetric.name == "test_accuracy")
        )
        with self._db.session() as s:
            return dict(s.execute(query).tuples().all())
