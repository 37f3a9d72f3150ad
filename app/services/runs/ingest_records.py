"""What ingest writes for each kind of message: an edge's announcement and heartbeat, the
server's word on its run; numbers and times checked on the way in."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.core.run.protocol import FAILED, FINISHED, RUNNING, STOPPED
from app.services.entities.job_status import TERMINAL
from app.services.entities.jobs import apply_transition
from app.services.runs.events import LiveEvent
from app.storage.models import Edge, EdgeEvent, EdgeStatus, Job, JobStatus, SystemSample
from app.wire.messages import Message

_RUN_STATES = {
    RUNNING: JobStatus.RUNNING,
    FINISHED: JobStatus.FINISHED,
    FAILED: JobStatus.FAILED,
    STOPPED: JobStatus.STOPPED,
}


def message_time(message: Message) -> datetime:
    return datetime.fromtimestamp(message.created_at, UTC)


def finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number")
    return float(value)


def record_edge_status(s: Session, edge: Edge, name: str, m: Message) -> list[LiveEvent]:
    """An edge's announcement: status (a change kept in its history), hardware, data keys."""
    set_edge_status(s, edge, EdgeStatus(m.body["state"]).value, message_time(m))
    edge.last_seen = message_time(m)
    if isinstance(m.body.get("hardware"), dict):
        edge.hardware = m.body["hardware"]
    keys = m.body.get("data_keys")
    if isinstance(keys, list) and all(isinstance(k, str) and len(k) <= 64 for k in keys):
        edge.data_keys = sorted(set(keys))[:64]
    return [LiveEvent("edge", data={"edge": name, "status": edge.status})]


LIVE_SAMPLE = ("cpu", "mem", "gpu", "net_sent", "net_recv")


def insert_once(s: Session, model, key: tuple[str, ...]):
    """An INSERT that skips a row whose `key` is stored already: another control center on
    the hub wrote the same message first. (A database without ON CONFLICT gets a plain
    INSERT; its unique index then refuses the copy.)"""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy import insert

        return insert(model)
    return insert(model).on_conflict_do_nothing(index_elements=list(key))


def record_sample(s: Session, edge: Edge, name: str, m: Message) -> list[LiveEvent]:
    """A heartbeat: one load sample; an edge heard from is no longer OFFLINE."""
    b = m.body
    optional = {k: (None if b.get(k) is None else finite(b[k], k)) for k in ("gpu", "gpu_mem")}
    sample = {
        "edge_id": edge.id,
        "at": message_time(m),
        "cpu": finite(b["cpu"], "cpu"),
        "mem": finite(b["mem"], "mem"),
        "disk": finite(b.get("disk", 0.0), "disk"),
        "net_sent": int(finite(b.get("net_sent", 0), "net_sent")),
        "net_recv": int(finite(b.get("net_recv", 0), "net_recv")),
        **optional,
    }
    s.execute(insert_once(s, SystemSample, ("edge_id", "at")), [sample])
    edge.last_seen = sample["at"]
    if edge.status == EdgeStatus.OFFLINE.value:
        set_edge_status(s, edge, EdgeStatus.IDLE.value, sample["at"])
    data = {"edge": name, "at": m.created_at, **{k: sample.get(k) for k in LIVE_SAMPLE}}
    return [LiveEvent("sample", data=data)]


def record_run_status(job: Job, m: Message) -> list[LiveEvent]:
    """The server's word on its run, as the job's status (late or repeated ones ignored)."""
    target = _RUN_STATES.get(m.body.get("state"))
    if target is None:
        raise ValueError(f"unknown run state {m.body.get('state')!r}")
    rnd = int(m.body.get("round") or 0)
    if JobStatus(job.status) in TERMINAL:
        return []  # a late or repeated announcement
    if job.status == JobStatus.QUEUED.value:
        apply_transition(job, JobStatus.STARTING, "server announced itself")
    if target == JobStatus.RUNNING:
        if job.status != JobStatus.RUNNING.value:
            apply_transition(job, JobStatus.RUNNING, "server running")
    else:
        if job.status == JobStatus.STARTING.value and target == JobStatus.FINISHED:
            apply_transition(job, JobStatus.RUNNING, "")
        apply_transition(job, target, str(m.body.get("reason", "")))
    job.current_round = max(job.current_round, rnd)
    data = {
        "status": job.status,
        "round": job.current_round,
        "reason": job.status_reason,
        "test_accuracy": m.body.get("test_accuracy"),
        "name": job.name,
    }
    return [LiveEvent("job", job.id, data)]


def set_edge_status(s: Session, edge: Edge, status: str, at: datetime) -> None:
    """An edge's new status; a change goes into its connection history."""
    if edge.status != status:
        s.add(EdgeEvent(edge_id=edge.id, at=at, status=status))
        edge.status = status
