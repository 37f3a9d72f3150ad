"""Jobs (runs): creation with a frozen config snapshot, and validated status transitions."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.core.algorithms import is_peer
from app.core.fl_config import parse_config
from app.core.peer.graph import build_graph
from app.errors import Conflict, InvalidInput, NotFound
from app.services.entities.configs import get_config
from app.services.entities.edges import get_edge, set_token
from app.services.entities.job_status import TERMINAL, TRANSITIONS, parse_status
from app.services.entities.projects import get_project
from app.services.entities.records import JobRecord
from app.services.entities.tasks import resolve_task
from app.services.security.auth import Actor, require, user_name
from app.storage import Database
from app.storage.models import (
    Edge,
    Job,
    JobEdge,
    JobStatus,
    JobStatusEvent,
    ModelArtifact,
    Role,
    User,
    utcnow,
)


def _disk_bytes(s, job_ids=None) -> dict[int, int]:
    query = select(ModelArtifact.job_id, func.sum(ModelArtifact.bytes)).group_by(
        ModelArtifact.job_id
    )
    if job_ids is not None:
        query = query.where(ModelArtifact.job_id.in_(job_ids))
    return {job_id: int(total or 0) for job_id, total in s.execute(query)}


def total_rounds(job: Job) -> int:
    return int(dict(job.config_snapshot).get("training", {}).get("rounds", 0))


def _record(job: Job, creator: str | None, disk_bytes: int = 0) -> JobRecord:
    snapshot = dict(job.config_snapshot)
    return JobRecord(
        id=job.id,
        name=job.name,
        tags=list(job.tags),
        project=job.project.name,
        config_name=snapshot.get("name", ""),
        config_version=job.config.version if job.config else None,
        config_snapshot=snapshot,
        edges=sorted(je.edge.name for je in job.edges),
        status=job.status,
        status_reason=job.status_reason,
        current_round=job.current_round,
        total_rounds=total_rounds(job),
        created_by=creator,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        init_model=job.init_model,
        task_name=job.task_name,
        task_version=job.task_version,
        task_sha256=job.task_sha256,
        history=[
            {"status": h.status, "reason": h.reason, "at": h.at.isoformat()} for h in job.history
        ],
        disk_bytes=disk_bytes,
        cluster=job.cluster,
    )


def apply_transition(job: Job, target: JobStatus, reason: str = "") -> None:
    """Move `job` to `target` inside the caller's session, or raise InvalidInput."""
    current = JobStatus(job.status)
    if target not in TRANSITIONS[current]:
        raise InvalidInput(f"job {job.id} is {current.value}; it cannot become {target.value}")
    now = utcnow()
    job.status = target.value
    job.status_reason = reason
    if target == JobStatus.RUNNING:
        job.started_at = now
    if target in TERMINAL:
        job.finished_at = now
    job.history.append(JobStatusEvent(status=target.value, reason=reason, at=now))


def _load(s: Session, job_id: int) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def _creator(s: Session, job: Job) -> str | None:
    return user_name(s, job.created_by)


class JobService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        actor: Actor,
        name: str,
        project: str,
        config: str,
        edges: Iterable[str],
        config_version: int | None = None,
        tags: Iterable[str] = (),
        init_model: dict[str, Any] | None = None,
        task_version: int | None = None,
        cluster: dict[str, Any] | None = None,
    ) -> JobRecord:
        """A QUEUED job. Its task's version is `task_version` if given, else the one the
        config pins, else the latest. `cluster`: the engine and ranks it runs on
        (`ClusterPlan.as_dict()`), in place of edges."""
        require(actor, Role.OPERATOR, "start jobs")
        name = name.strip()
        if not name or len(name) > 128:
            raise InvalidInput("job name must be 1-128 characters")
        edge_names = list(dict.fromkeys(edges))  # none: a job for a cluster's ranks
        if edge_names and cluster is not None:
            raise InvalidInput("a job runs on its edges or on a cluster's ranks, not both")
        with self._db.session() as s:
            proj = get_project(s, project)
            cfg = get_config(s, config, config_version)
            min_clients = int(cfg.body.get("training", {}).get("min_clients", 1))
            if edge_names and len(edge_names) < min_clients:
                raise InvalidInput(
                    f"config {cfg.name!r} v{cfg.version} needs at least {min_clients} edges "
                    f"(training.min_clients); {len(edge_names)} given"
                )
            parsed = parse_config(cfg.body, f"config {cfg.name!r} v{cfg.version}")
            if is_peer(parsed.algorithm.name) and edge_names:  # a graph over these edges
                build_graph(parsed.decentralized, edge_names)  # (ranks: once they are known)
            task = parsed.task
            task_name = task.name or cfg.body.get("dataset", {}).get("name", "digits")
            wanted = task.version if task_version is None else task_version
            task_version, task_sha256 = resolve_task(s, task_name, wanted)
            job = Job(
                task_name=task_name,
                task_version=task_version,
                task_sha256=task_sha256,
                name=name,
                tags=sorted({t.strip() for t in tags if t.strip()}),
                project=proj,
                config=cfg,
                config_snapshot=dict(cfg.body),
                created_by=actor.id,
                init_model=init_model,
                cluster=cluster,
                edges=[JobEdge(edge=get_edge(s, e)) for e in edge_names],
                history=[JobStatusEvent(status=JobStatus.QUEUED.value, reason="created")],
            )
            s.add(job)
            s.flush()
            return _record(job, actor.name)

    def set_cluster(self, actor: Actor, job_id: int, cluster: dict[str, Any]) -> JobRecord:
        """A QUEUED job is to run on a cluster's ranks (`job start ID --mpi …`)."""
        require(actor, Role.OPERATOR, "start jobs")
        with self._db.session() as s:
            job = _load(s, job_id)
            if job.status != JobStatus.QUEUED.value:
                raise InvalidInput(f"job {job_id} is {job.status}; only a QUEUED job can start")
            if job.edges:
                raise InvalidInput(
                    f"job {job_id} runs on its edges; a cluster's ranks run a job created "
                    "without --edge"
                )
            job.cluster = cluster
            s.flush()
            return _record(job, _creator(s, job))

    def run_on_ranks(self, actor: Actor, job_id: int, ranks: dict[str, str]) -> JobRecord:
        """A cluster run's participants: the ranks that train, by device id (`host-rN`)
        and name. Each becomes an edge (made on first use, tagged `cluster`, with a token
        nobody holds: ranks reach the hub through rank 0), and the job's edges are them."""
        require(actor, Role.OPERATOR, "start jobs")
        with self._db.session() as s:
            job = _load(s, job_id)
            chosen = []
            for device_id, name in ranks.items():
                edge = s.scalar(select(Edge).where(Edge.device_id == device_id))
                if edge is None:
                    if s.scalar(select(Edge.id).where(Edge.name == name)):
                        raise Conflict(f"an edge named {name!r} exists already; rename it")
                    edge = Edge(name=name, device_id=device_id, tags=["cluster"])
                    set_token(edge, f"{device_id}.{secrets.token_urlsafe(32)}")
                    s.add(edge)
                    s.flush()
                chosen.append(edge)
            job.edges = [JobEdge(edge=e) for e in chosen]
            s.flush()
            return _record(job, _creator(s, job))

    def get(self, actor: Actor, job_id: int) -> JobRecord:
        require(actor, Role.VIEWER, "view jobs")
        with self._db.session() as s:
            job = _load(s, job_id)
            return _record(job, _creator(s, job), _disk_bytes(s, [job_id]).get(job_id, 0))

    def delete(self, actor: Actor, job_id: int) -> JobRecord:
        """Its rows (metrics, logs, models, samples' links) go; a run still going cannot.
        The caller deletes its folder (`services.runs.retention.delete_run`)."""
        require(actor, Role.OPERATOR, "delete jobs")
        with self._db.session() as s:
            job = _load(s, job_id)
            status = JobStatus(job.status)
            if status not in TERMINAL and status != JobStatus.QUEUED:
                raise Conflict(f"job {job_id} is {status.value}; stop it before deleting it")
            record = _record(job, _creator(s, job))
            s.delete(job)
            return record

    def list(
        self,
        actor: Actor,
        status: str | None = None,
        tag: str | None = None,
        project: str | None = None,
    ) -> list[JobRecord]:
        require(actor, Role.VIEWER, "list jobs")
        query = select(Job).options(
            selectinload(Job.project),
            selectinload(Job.config),
            selectinload(Job.edges).selectinload(JobEdge.edge),
            selectinload(Job.history),
        )
        if status:
            query = query.where(Job.status == parse_status(status).value)
        with self._db.session() as s:
            if project:
                query = query.where(Job.project_id == get_project(s, project).id)
            users = dict(s.execute(select(User.id, User.name)).tuples().all())
            jobs = s.scalars(query.order_by(Job.id.desc())).all()
            disk = _disk_bytes(s)
            records = [_record(j, users.get(j.created_by), disk.get(j.id, 0)) for j in jobs]
        return [r for r in records if tag is None or tag in r.tags]

    def transition(self, actor: Actor, job_id: int, status: str, reason: str = "") -> JobRecord:
        """Move a job along QUEUED → STARTING → RUNNING → FINISHED | FAILED | STOPPED."""
        target = parse_status(status)
        action = "stop jobs" if target == JobStatus.STOPPED else "change job status"
        require(actor, Role.OPERATOR, action)
        with self._db.session() as s:
            job = _load(s, job_id)
            apply_transition(job, target, reason)
            s.flush()
            return _record(job, _creator(s, job))

    def record_progress(self, actor: Actor, job_id: int, current_round: int) -> None:
        require(actor, Role.OPERATOR, "report job progress")
        with self._db.session() as s:
            job = _load(s, job_id)
            if current_round < job.current_round:
                raise InvalidInput(
                    f"job {job_id} is at round {job.current_round}; round {current_round} is stale"
                )
            job.current_round = current_round

    def settle(self, actor: Actor, job_id: int, status: str, reason: str, rounds_done: int) -> bool:
        """End a job that is still open, in one transaction; False if it had ended already
        (ingest may have recorded the server's own announcement first)."""
        require(actor, Role.OPERATOR, "change job status")
        target = parse_status(status)
        with self._db.session() as s:
            job = _load(s, job_id)
            if JobStatus(job.status) in TERMINAL:
                return False
            if target == JobStatus.FINISHED and job.status == JobStatus.STARTING.value:
                apply_transition(job, JobStatus.RUNNING)
            apply_transition(job, target, reason)
            job.current_round = max(job.current_round, rounds_done)
            return True
