"""What a schedule or a flow step launches: a job described by references, resolved at fire
time (the config's latest version unless pinned, the edges online with a tag, or a
cluster's ranks). Edges by tag that are not online yet are waited for, up to
`wait_for_edges_s`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.fl_config import describe_validation_error
from app.core.run.cluster import ClusterPlan
from app.errors import FedDeckError, InvalidInput, NotFound
from app.services.entities.configs import get_config
from app.services.entities.edges import get_edge
from app.services.entities.projects import get_project
from app.services.entities.records import JobRecord
from app.services.security.auth import Actor
from app.storage import Database
from app.storage.models import EdgeStatus, JobStatus

DEFAULT_NAME = "{source} {fired:%Y-%m-%d %H:%M}"


class JobTemplate(BaseModel):
    """`name` is a pattern: {source} (schedule or step), {fired} (a datetime), {attempt}."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(min_length=1)
    config: str = Field(min_length=1)
    config_version: int | None = Field(default=None, ge=1)
    edges: list[str] = Field(default_factory=list)
    edge_tag: str | None = None
    # or a cluster's ranks: {engine, ranks, hostfile, partition, nodes, data_map}, the
    # data map a table or a file read at fire time (core/run/cluster.ClusterPlan)
    cluster: dict[str, Any] | None = None
    # How long a fire or step waits for an idle edge with `edge_tag` before it fails.
    wait_for_edges_s: float = Field(default=300.0, ge=0, le=86_400)
    name: str = Field(default=DEFAULT_NAME, min_length=1, max_length=128)
    tags: list[str] = Field(default_factory=list)
    # Flows only: the parent step whose final aggregated model this run starts from.
    init_from: str | None = None

    @model_validator(mode="after")
    def _one_edge_selector(self) -> JobTemplate:
        if [bool(self.edges), bool(self.edge_tag), self.cluster is not None].count(True) != 1:
            raise ValueError(
                "give one of edges (a list of edge names), edge_tag, or cluster (a table: "
                "engine, ranks, …)"
            )
        if self.cluster is not None:
            try:
                ClusterPlan.from_dict(self.cluster, "cluster")
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        try:
            self.render_name("x", datetime(2026, 1, 1), 1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"name pattern {self.name!r} is invalid ({exc}); "
                "it may use {source}, {fired} and {attempt}"
            ) from None
        return self

    def render_name(self, source: str, fired: datetime, attempt: int = 1) -> str:
        return self.name.format(source=source, fired=fired, attempt=attempt)[:128]


def parse_template(data: dict[str, Any], source: str = "job template") -> JobTemplate:
    try:
        return JobTemplate.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source)) from exc


def check_references(db: Database, template: JobTemplate, source: str) -> None:
    """Refuse a template whose project, config or edges do not exist (now)."""
    try:
        with db.session() as s:
            get_project(s, template.project)
            get_config(s, template.config, template.config_version)
            for edge in template.edges:
                get_edge(s, edge)
    except NotFound as exc:
        raise InvalidInput(f"{source}: {exc}") from exc


def launch_job(services, start_job, actor: Actor, template: JobTemplate, **create) -> JobRecord:
    """Queue the template's job and start it. A job that cannot start is marked FAILED
    (not left QUEUED); either failure raises with the reason."""
    job = create_job(services, actor, template, **create)
    try:
        start_job(actor, job.id)
    except FedDeckError as exc:
        if services.jobs.get(actor, job.id).status == JobStatus.QUEUED.value:
            services.jobs.transition(actor, job.id, "FAILED", str(exc))
        raise JobNotStarted(job.id, exc) from exc
    return job


class EdgesNotReady(InvalidInput):
    """No edge the template selects is online and idle yet: worth waiting for."""


class JobNotStarted(InvalidInput):
    def __init__(self, job_id: int, cause: Exception) -> None:
        super().__init__(f"job {job_id} did not start: {cause}")
        self.job_id = job_id


def create_job(
    services,
    actor: Actor,
    template: JobTemplate,
    *,
    source: str,
    fired: datetime,
    attempt: int = 1,
    extra_tags: tuple[str, ...] = (),
    init_model: dict[str, Any] | None = None,
) -> JobRecord:
    """Queue the job the template describes; edges by tag are those online (IDLE) now; a
    cluster's data map file is read now."""
    edges = list(template.edges)
    cluster = None
    if template.cluster is not None:
        cluster = ClusterPlan.from_dict(template.cluster, f"{source}'s cluster").as_dict()
    if template.edge_tag:
        edges = [
            e.name
            for e in services.edges.list(actor, tag=template.edge_tag)
            if e.status == EdgeStatus.IDLE.value
        ]
        with services.db.session() as s:
            cfg = get_config(s, template.config, template.config_version)
            needed = max(1, int(cfg.body.get("training", {}).get("min_clients", 1)))
        if not edges:
            raise EdgesNotReady(f"no idle edge is tagged {template.edge_tag!r}")
        if len(edges) < needed:
            raise EdgesNotReady(
                f"{len(edges)} idle edge(s) tagged {template.edge_tag!r}; "
                f"config {template.config!r} needs {needed} (training.min_clients)"
            )
    return services.jobs.create(
        actor,
        name=template.render_name(source, fired, attempt),
        project=template.project,
        config=template.config,
        config_version=template.config_version,
        edges=edges,
        tags=[*template.tags, *extra_tags],
        init_model=init_model,
        cluster=cluster,
    )
