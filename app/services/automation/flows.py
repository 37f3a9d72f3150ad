"""Flows and flow runs: store a checked definition, start a run, read its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.errors import Conflict, InvalidInput, NotFound
from app.services.automation.flow_definitions import (
    FlowDef,
    flow_from_toml,
    flow_to_toml,
    parse_flow,
)
from app.services.automation.job_templates import check_references
from app.services.entities.records import Record
from app.services.security.auth import Actor, require, user_name
from app.storage import Database
from app.storage.models import Flow, FlowRun, FlowStep, FlowStepRun, Job, Role, utcnow

RUN_STATES = ("RUNNING", "FINISHED", "FAILED", "STOPPED")
STEP_STATES = ("PENDING", "WAITING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED")
STEP_DONE = frozenset({"SUCCEEDED", "FAILED", "SKIPPED"})


@dataclass(frozen=True)
class FlowRecord(Record):
    id: int
    name: str
    description: str
    steps: list[dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True)
class FlowRunRecord(Record):
    id: int
    flow: str
    status: str
    reason: str
    trigger: str
    created_by: str | None
    started_at: datetime
    finished_at: datetime | None
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status != "RUNNING"


def definition_of(flow: Flow) -> FlowDef:
    """The stored flow as a definition (already checked when it was saved)."""
    return FlowDef.model_validate(
        {
            "name": flow.name,
            "description": flow.description,
            "steps": [
                {
                    "name": st.name,
                    "job": st.template,
                    "depends_on": list(st.depends_on),
                    "condition": dict(st.condition),
                    "retries": st.retries,
                }
                for st in flow.steps
            ],
        }
    )


def _flow_record(flow: Flow) -> FlowRecord:
    return FlowRecord(
        id=flow.id,
        name=flow.name,
        description=flow.description,
        steps=[s.model_dump(mode="json") for s in definition_of(flow).steps],
        created_at=flow.created_at,
    )


def run_record(s: Session, run: FlowRun) -> FlowRunRecord:
    definition = definition_of(run.flow)
    jobs = {}
    job_ids = [st.job_id for st in run.steps if st.job_id]
    if job_ids:
        jobs = {j.id: j for j in s.scalars(select(Job).where(Job.id.in_(job_ids)))}
    creator = user_name(s, run.created_by)
    steps = []
    for st in run.steps:
        job = jobs.get(st.job_id)
        steps.append(
            {
                "step": st.step,
                "status": st.status,
                "attempts": st.attempts,
                "job_id": st.job_id,
                "job_status": job.status if job else None,
                "job_round": job.current_round if job else None,
                "reason": st.reason,
                "depends_on": definition.step(st.step).depends_on,
            }
        )
    return FlowRunRecord(
        id=run.id,
        flow=run.flow.name,
        status=run.status,
        reason=run.reason,
        trigger=run.trigger,
        created_by=creator,
        started_at=run.started_at,
        finished_at=run.finished_at,
        steps=steps,
    )


def _load_flow(s: Session, name: str) -> Flow:
    flow = s.scalar(select(Flow).where(Flow.name == name).options(selectinload(Flow.steps)))
    if flow is None:
        raise NotFound(f"no flow named {name!r}")
    return flow


def load_run(s: Session, flow_run_id: int) -> FlowRun:
    run = s.get(FlowRun, flow_run_id)
    if run is None:
        raise NotFound(f"no flow run with id {flow_run_id}")
    return run


class FlowService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, actor: Actor, definition: FlowDef, replace: bool = False) -> FlowRecord:
        """Store a flow; its steps' projects, configs and edges must exist."""
        require(actor, Role.OPERATOR, "save flows")
        for step in definition.steps:
            check_references(self._db, step.job, f"flow {definition.name!r} step {step.name!r}")
        with self._db.session() as s:
            existing = s.scalar(select(Flow).where(Flow.name == definition.name))
            if existing is not None:
                if not replace:
                    raise Conflict(f"a flow named {definition.name!r} exists already")
                if s.scalar(
                    select(FlowRun.id).where(
                        FlowRun.flow_id == existing.id, FlowRun.status == "RUNNING"
                    )
                ):
                    raise Conflict(f"flow {definition.name!r} is running; change it afterwards")
                existing.description = definition.description
                existing.steps.clear()
                s.flush()
                flow = existing
            else:
                flow = Flow(name=definition.name, description=definition.description)
                s.add(flow)
            for step in definition.steps:
                flow.steps.append(
                    FlowStep(
                        name=step.name,
                        template=step.job.model_dump(mode="json", exclude_none=True),
                        depends_on=list(step.depends_on),
                        condition=step.condition.model_dump(mode="json", exclude_none=True),
                        retries=step.retries,
                    )
                )
            s.flush()
            return _flow_record(flow)

    def save_toml(self, actor: Actor, text: str, source: str, replace: bool = False) -> FlowRecord:
        return self.save(actor, flow_from_toml(text, source), replace)

    def save_dict(self, actor: Actor, data: dict[str, Any], replace: bool = False) -> FlowRecord:
        return self.save(actor, parse_flow(data), replace)

    def get(self, actor: Actor, name: str) -> FlowRecord:
        require(actor, Role.VIEWER, "view flows")
        with self._db.session() as s:
            return _flow_record(_load_flow(s, name))

    def definition(self, actor: Actor, name: str) -> FlowDef:
        require(actor, Role.VIEWER, "view flows")
        with self._db.session() as s:
            return definition_of(_load_flow(s, name))

    def export_toml(self, actor: Actor, name: str) -> str:
        return flow_to_toml(self.definition(actor, name))

    def list(self, actor: Actor) -> list[FlowRecord]:
        require(actor, Role.VIEWER, "list flows")
        with self._db.session() as s:
            flows = s.scalars(select(Flow).options(selectinload(Flow.steps)).order_by(Flow.name))
            return [_flow_record(f) for f in flows]

    def delete(self, actor: Actor, name: str) -> None:
        require(actor, Role.OPERATOR, "delete flows")
        with self._db.session() as s:
            flow = _load_flow(s, name)
            if s.scalar(
                select(FlowRun.id).where(FlowRun.flow_id == flow.id, FlowRun.status == "RUNNING")
            ):
                raise Conflict(f"flow {name!r} is running; stop it first")
            s.delete(flow)

    def start_run(
        self,
        actor: Actor,
        name: str,
        trigger: str = "manual",
        owner: str | None = None,
        lease_s: float = 30.0,
    ) -> FlowRunRecord:
        """Create a run with every step PENDING; a flow engine then advances it. With
        `owner`, the caller holds the run's lease from the start."""
        require(actor, Role.OPERATOR, "run flows")
        with self._db.session() as s:
            flow = _load_flow(s, name)
            now = utcnow()
            run = FlowRun(
                flow=flow,
                trigger=trigger[:128],
                created_by=actor.id,
                started_at=now,
                lease_owner=owner,
                lease_until=now + timedelta(seconds=lease_s) if owner else None,
                steps=[FlowStepRun(step=st.name, updated_at=now) for st in flow.steps],
            )
            s.add(run)
            s.flush()
            return run_record(s, run)

    def run(self, actor: Actor, flow_run_id: int) -> FlowRunRecord:
        require(actor, Role.VIEWER, "view flow runs")
        with self._db.session() as s:
            return run_record(s, load_run(s, flow_run_id))

    def runs(self, actor: Actor, flow: str | None = None, limit: int = 200) -> list[FlowRunRecord]:
        require(actor, Role.VIEWER, "list flow runs")
        with self._db.session() as s:
            query = select(FlowRun).order_by(FlowRun.id.desc()).limit(limit)
            if flow is not None:
                query = query.where(FlowRun.flow_id == _load_flow(s, flow).id)
            return [run_record(s, r) for r in s.scalars(query)]

    def request_stop(self, actor: Actor, flow_run_id: int) -> FlowRunRecord:
        """Mark the run STOPPED and its waiting steps SKIPPED; returns the jobs to stop
        in the record (steps still RUNNING)."""
        require(actor, Role.OPERATOR, "stop flow runs")
        with self._db.session() as s:
            run = load_run(s, flow_run_id)
            if run.status != "RUNNING":
                raise InvalidInput(f"flow run {flow_run_id} is already {run.status}")
            now = utcnow()
            run.status, run.reason, run.finished_at = "STOPPED", f"stopped by {actor.name}", now
            for st in run.steps:
                if st.status in ("PENDING", "WAITING"):
                    st.status, st.reason, st.updated_at = "SKIPPED", "flow stopped", now
            return run_record(s, run)
