"""Typed ORM entities: every table the control center keeps.

Timestamps are timezone-aware UTC. Enums are stored as short strings so that a
database browser shows them readably and migrations need no enum types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Re-exported: the entities' own words, defined where no database is needed.
from app.storage.vocabulary import DEFAULT_KEEP_CLIENT_ROUNDS as DEFAULT_KEEP_CLIENT_ROUNDS
from app.storage.vocabulary import EdgeStatus as EdgeStatus
from app.storage.vocabulary import JobStatus as JobStatus
from app.storage.vocabulary import Role as Role
from app.storage.vocabulary import utcnow as utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone on the way back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "group_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    group: Mapped[Group] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Client updates a run keeps on disk: the last N rounds' (0: none; NULL: all). Every
    # aggregated model is kept whatever this says.
    keep_client_rounds: Mapped[int | None] = mapped_column(
        default=DEFAULT_KEEP_CLIENT_ROUNDS, server_default=str(DEFAULT_KEEP_CLIENT_ROUNDS)
    )
    # Where each run that ends is exported (empty: nowhere): an MLflow tracking URI, a
    # TensorBoard log folder.
    export_mlflow: Mapped[str] = mapped_column(String(500), default="", server_default="")
    export_tensorboard: Mapped[str] = mapped_column(String(500), default="", server_default="")
    group: Mapped[Group | None] = relationship()


class Edge(Base):
    __tablename__ = "edges"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    # The token's Mosquitto `$7$` hash, made when the token is issued (for an external
    # broker's password file; a SHA-256 cannot be turned into one later).
    mqtt_password_hash: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=EdgeStatus.OFFLINE.value)
    last_seen: Mapped[datetime | None]
    hardware: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The --data keys the agent was started with (their names only; the data stays there).
    data_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EdgeEvent(Base):
    """An edge's status changed (came online, went offline, started training): its
    connection history, and the lab's "edges online" over time."""

    __tablename__ = "edge_events"
    __table_args__ = (Index("ix_edge_events_edge_at", "edge_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    edge_id: Mapped[int] = mapped_column(ForeignKey("edges.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))


class Task(Base):
    """One version of a task: its normalised archive, named by its SHA-256 and signed by
    this control center. Adding changed code adds a row with version + 1."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_tasks_name_version"),
        UniqueConstraint("name", "sha256", name="uq_tasks_name_sha256"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(32))  # task.toml's own version string
    description: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_key: Mapped[str] = mapped_column(String(64), default="")
    manifest: Mapped[dict[str, Any]]
    size: Mapped[int] = mapped_column(Integer)
    archive: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Config(Base):
    """One version of a training configuration; an edit adds a row with version + 1."""

    __tablename__ = "configs"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_configs_name_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A run: one FL training job with a frozen config snapshot."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    config_id: Mapped[int | None] = mapped_column(ForeignKey("configs.id", ondelete="SET NULL"))
    config_snapshot: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value, index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    current_round: Mapped[int] = mapped_column(Integer, default=0)
    # Where the run's starting weights come from, when not from the model's own init:
    # {"job_id", "round", "path", "sha256"} of another run's aggregated model.
    init_model: Mapped[dict[str, Any] | None]
    # The task version the run uses, fixed at creation (built-in tasks: version 0).
    task_name: Mapped[str | None] = mapped_column(String(64))
    task_version: Mapped[int | None] = mapped_column(Integer)
    task_sha256: Mapped[str | None] = mapped_column(String(64))
    # A run on a cluster's ranks: {"engine", "ranks", …} (core/run/cluster.ClusterPlan);
    # None: on its edges.
    cluster: Mapped[dict[str, Any] | None]
    project: Mapped[Project] = relationship()
    config: Mapped[Config | None] = relationship()
    edges: Mapped[list[JobEdge]] = relationship(cascade="all, delete-orphan")
    history: Mapped[list[JobStatusEvent]] = relationship(
        cascade="all, delete-orphan", order_by="JobStatusEvent.id"
    )


class JobEdge(Base):
    __tablename__ = "job_edges"
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    edge_id: Mapped[int] = mapped_column(
        ForeignKey("edges.id", ondelete="CASCADE"), primary_key=True
    )
    edge: Mapped[Edge] = relationship()


class JobStatusEvent(Base):
    __tablename__ = "job_status_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RoundMetric(Base):
    __tablename__ = "round_metrics"
    __table_args__ = (Index("ix_round_metrics_job_round", "job_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    node: Mapped[str] = mapped_column(String(64))  # an edge name, or "aggregate"
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SystemSample(Base):
    __tablename__ = "system_samples"
    # One row per heartbeat, whichever control center on the hub stores it first.
    __table_args__ = (Index("ix_system_samples_edge_at", "edge_id", "at", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    edge_id: Mapped[int] = mapped_column(ForeignKey("edges.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    cpu: Mapped[float] = mapped_column(Float)
    mem: Mapped[float] = mapped_column(Float)
    gpu: Mapped[float | None] = mapped_column(Float)
    gpu_mem: Mapped[float | None] = mapped_column(Float)
    net_sent: Mapped[int] = mapped_column(Integer, default=0)
    net_recv: Mapped[int] = mapped_column(Integer, default=0)
    disk: Mapped[float] = mapped_column(Float, default=0.0)


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (Index("ix_log_lines_job_at", "job_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)


class ModelArtifact(Base):
    __tablename__ = "model_artifacts"
    __table_args__ = (Index("ix_model_artifacts_job_round", "job_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    edge_id: Mapped[int | None] = mapped_column(ForeignKey("edges.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Schedule(Base):
    __tablename__ = "schedules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    template: Mapped[dict[str, Any]]  # what to launch: project, config, edges, name pattern
    trigger_kind: Mapped[str] = mapped_column(String(16))  # cron | interval | once
    trigger_expr: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    overlap_policy: Mapped[str] = mapped_column(String(16), default="skip")
    misfire_policy: Mapped[str] = mapped_column(String(16), default="skip")
    next_fire_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Flow(Base):
    __tablename__ = "flows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    steps: Mapped[list[FlowStep]] = relationship(
        cascade="all, delete-orphan", order_by="FlowStep.id"
    )


class FlowStep(Base):
    __tablename__ = "flow_steps"
    __table_args__ = (UniqueConstraint("flow_id", "name", name="uq_flow_steps_flow_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    template: Mapped[dict[str, Any]]
    depends_on: Mapped[list[str]] = mapped_column(JSON, default=list)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retries: Mapped[int] = mapped_column(Integer, default=0)


class ScheduleFire(Base):
    """One fire of a schedule: what it launched, or why it did not."""

    __tablename__ = "schedule_fires"
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    fire_time: Mapped[datetime]  # when it was due
    at: Mapped[datetime] = mapped_column(default=utcnow)  # when it was handled
    # launched | skipped | queued | waiting (for edges) | failed
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    flow_run_id: Mapped[int | None] = mapped_column(ForeignKey("flow_runs.id", ondelete="SET NULL"))


class FlowRun(Base):
    __tablename__ = "flow_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    reason: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[str] = mapped_column(String(128), default="manual")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    flow: Mapped[Flow] = relationship()
    steps: Mapped[list[FlowStepRun]] = relationship(
        cascade="all, delete-orphan", order_by="FlowStepRun.id"
    )


class FlowStepRun(Base):
    __tablename__ = "flow_step_runs"
    __table_args__ = (UniqueConstraint("flow_run_id", "step", name="uq_flow_step_runs_run_step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_run_id: Mapped[int] = mapped_column(ForeignKey("flow_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
