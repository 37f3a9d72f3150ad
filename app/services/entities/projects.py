"""Projects: each has exactly one group; a second attach is refused. A project also says
how many rounds of client updates its runs keep on disk, and where each run that ends is
exported (MLflow, TensorBoard)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.errors import Conflict, InvalidInput, NotFound
from app.services.entities.groups import get_group
from app.services.entities.job_status import TERMINAL
from app.services.entities.records import ProjectRecord, describe_retention
from app.services.security.auth import Actor, require, validate_name
from app.storage import Database
from app.storage.models import DEFAULT_KEEP_CLIENT_ROUNDS, Job, Project, Role

MAX_KEEP_CLIENT_ROUNDS = 1_000_000
__all__ = ["DEFAULT_KEEP_CLIENT_ROUNDS", "ProjectService", "get_project", "parse_retention"]


def parse_retention(value: str | int | None) -> int | None:
    """'all' (None), 'none' (0) or a number of rounds, as typed or as stored."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "all":
        return None
    if text == "none":
        return 0
    if not text.isdigit() or int(text) > MAX_KEEP_CLIENT_ROUNDS:
        raise InvalidInput(
            f"client-update retention {value!r}: give all, none, or a number of rounds "
            f"(0-{MAX_KEEP_CLIENT_ROUNDS})"
        )
    return int(text)


MLFLOW_SCHEMES = ("file", "http", "https", "sqlite", "postgresql", "mysql", "databricks")


def parse_mlflow_uri(value: str) -> str:
    """An MLflow tracking URI, or "" for none; a bare folder becomes a file: URI."""
    value = value.strip()
    if not value:
        return ""
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if not scheme:  # a path: an SQLite store if it names a .db file, else a folder store
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise InvalidInput(f"MLflow store {value!r}: give an absolute folder or a URI")
        return f"sqlite:///{path}" if path.suffix == ".db" else path.as_uri()
    if scheme not in MLFLOW_SCHEMES:
        raise InvalidInput(
            f"MLflow tracking URI {value!r}: scheme must be one of {', '.join(MLFLOW_SCHEMES)}"
        )
    if len(value) > 500:
        raise InvalidInput("MLflow tracking URI: at most 500 characters")
    return value


def parse_log_dir(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise InvalidInput(f"TensorBoard folder {value!r}: give an absolute path")
    if len(str(path)) > 500:
        raise InvalidInput("TensorBoard folder: at most 500 characters")
    return str(path)


def _record(p: Project) -> ProjectRecord:
    return ProjectRecord(
        id=p.id,
        name=p.name,
        description=p.description,
        group=p.group.name if p.group else None,
        keep_client_rounds=p.keep_client_rounds,
        client_updates_kept=describe_retention(p.keep_client_rounds),
        export_mlflow=p.export_mlflow or "",
        export_tensorboard=p.export_tensorboard or "",
    )


def get_project(s: Session, name: str) -> Project:
    project = s.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project named {name!r}")
    return project


class ProjectService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        actor: Actor,
        name: str,
        group: str | None = None,
        description: str = "",
        keep_client_rounds: str | int | None = DEFAULT_KEEP_CLIENT_ROUNDS,
    ) -> ProjectRecord:
        require(actor, Role.OPERATOR, "create projects")
        validate_name("project", name)
        keep = parse_retention(keep_client_rounds)
        with self._db.session() as s:
            if s.scalar(select(Project.id).where(Project.name == name)):
                raise Conflict(f"project {name!r} exists already")
            project = Project(name=name, description=description, keep_client_rounds=keep)
            if group is not None:
                project.group = get_group(s, group)
            s.add(project)
            s.flush()
            return _record(project)

    def get(self, actor: Actor, name: str) -> ProjectRecord:
        require(actor, Role.VIEWER, "read projects")
        with self._db.session() as s:
            return _record(get_project(s, name))

    def set_retention(self, actor: Actor, name: str, keep: str | int | None) -> ProjectRecord:
        """From the next round on: runs going now apply it too; nothing is re-read."""
        require(actor, Role.OPERATOR, "change a project's retention")
        value = parse_retention(keep)
        with self._db.session() as s:
            project = get_project(s, name)
            project.keep_client_rounds = value
            s.flush()
            return _record(project)

    def set_exports(
        self, actor: Actor, name: str, mlflow: str | None = None, tensorboard: str | None = None
    ) -> ProjectRecord:
        """Where the project's runs are exported as they end; "" turns one off, None
        leaves it as it is."""
        require(actor, Role.OPERATOR, "change a project's exports")
        with self._db.session() as s:
            project = get_project(s, name)
            if mlflow is not None:
                project.export_mlflow = parse_mlflow_uri(mlflow)
            if tensorboard is not None:
                project.export_tensorboard = parse_log_dir(tensorboard)
            s.flush()
            return _record(project)

    def list(self, actor: Actor) -> list[ProjectRecord]:
        require(actor, Role.VIEWER, "list projects")
        with self._db.session() as s:
            query = select(Project).options(selectinload(Project.group)).order_by(Project.name)
            return [_record(p) for p in s.scalars(query)]

    def attach_group(self, actor: Actor, project: str, group: str) -> ProjectRecord:
        require(actor, Role.OPERATOR, "attach groups to projects")
        with self._db.session() as s:
            proj = get_project(s, project)
            grp = get_group(s, group)
            if proj.group is not None:
                raise Conflict(
                    f"project {project!r} already has group {proj.group.name!r}; "
                    "a project has exactly one group, the one it was first given"
                )
            proj.group = grp
            s.flush()
            return _record(proj)

    def rename(self, actor: Actor, name: str, new_name: str) -> ProjectRecord:
        """Refused while a run of the project is open: its topics carry the project name."""
        require(actor, Role.OPERATOR, "rename projects")
        validate_name("project", new_name)
        with self._db.session() as s:
            proj = get_project(s, name)
            if new_name != name and s.scalar(select(Project.id).where(Project.name == new_name)):
                raise Conflict(f"project {new_name!r} exists already")
            open_runs = select(Job.id).where(
                Job.project_id == proj.id, Job.status.not_in([t.value for t in TERMINAL])
            )
            if s.scalar(open_runs.limit(1)):
                raise Conflict(f"project {name!r} has runs going; rename it when they end")
            proj.name = new_name
            s.flush()
            return _record(proj)

    def remove(self, actor: Actor, name: str) -> None:
        require(actor, Role.OPERATOR, "remove projects")
        with self._db.session() as s:
            proj = get_project(s, name)
            if s.scalar(select(Job.id).where(Job.project_id == proj.id).limit(1)):
                raise Conflict(f"project {name!r} has jobs; their history would be lost")
            s.delete(proj)
