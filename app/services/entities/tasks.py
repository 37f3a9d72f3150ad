"""Tasks: added from a folder, stored as their signed, content-addressed archive, versioned
(changed code is a new version; the same code again is the version already stored). The
built-in tasks are listed too, as version 0."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from app.core.tasks import archive
from app.core.tasks.builtin import (
    builtin_archive,
    builtin_folder,
    builtin_names,
    builtin_sha256,
)
from app.core.tasks.manifest import TaskManifest, read_manifest
from app.core.tasks.source_check import check_sources
from app.core.tasks.spec import TaskSpec
from app.errors import Conflict, InvalidInput, NotFound
from app.services.entities.records import TaskRecord
from app.services.entities.versions import latest_of, next_version, pick_version
from app.services.security.auth import Actor, require, user_name
from app.services.security.center_key import center_key
from app.storage import Database
from app.storage.models import Role, Task


def _record(t: Task, creator: str | None) -> TaskRecord:
    return TaskRecord(
        name=t.name,
        version=t.version,
        label=t.label,
        description=t.description,
        sha256=t.sha256,
        requirements=list(t.requirements),
        data_key=t.data_key,
        size=t.size,
        builtin=False,
        created_by=creator,
        created_at=t.created_at,
    )


def _builtin_record(name: str) -> TaskRecord:
    folder = builtin_folder(name)
    manifest = read_manifest(folder)
    return TaskRecord(
        name=name,
        version=0,
        label=manifest.version,
        description=manifest.description,
        sha256=builtin_sha256(name),
        requirements=list(manifest.requirements),
        data_key=manifest.data_key,
        size=len(builtin_archive(name)),
        builtin=True,
    )


def get_task(s: Session, name: str, version: int | None = None) -> Task:
    task = pick_version(s, Task, name, version)
    if task is None:
        which = f"{name!r}" if version is None else f"{name!r} version {version}"
        raise NotFound(f"no task {which}; add it with: feddeck task add DIR")
    return task


def resolve_task(s: Session, name: str, version: int | None) -> tuple[int, str]:
    """(version, sha256) of the task a new job of a config uses."""
    if name in builtin_names():
        if version not in (None, 0):
            raise InvalidInput(f"task {name!r} is built in: it has no version {version}")
        return 0, builtin_sha256(name)
    task = get_task(s, name, version)
    return task.version, task.sha256


class TaskService:
    def __init__(self, db: Database, data_dir: Path | None = None) -> None:
        self._db = db
        self._data_dir = data_dir

    def center_fingerprint(self) -> str:
        """What an edge's operator passes to --trust-center to run this center's tasks."""
        if self._data_dir is None:
            raise InvalidInput("no data dir to keep the center's signing key in")
        return center_key(self._data_dir).fingerprint

    def add(self, actor: Actor, folder: Path) -> tuple[TaskRecord, bool]:
        """Store the task in `folder`; returns its record and whether it was new."""
        require(actor, Role.OPERATOR, "add tasks")
        folder = Path(folder)
        manifest = read_manifest(folder)
        if manifest.name in builtin_names():
            raise Conflict(f"task {manifest.name!r} is built into FedDeck; choose another name")
        if self._data_dir is None:
            raise InvalidInput("no data dir to keep the center's signing key in")
        check_sources(folder, manifest, archive.files(folder))
        data = archive.pack(folder)
        digest = archive.sha256(data)
        key = center_key(self._data_dir)

        def write() -> tuple[TaskRecord, bool]:
            with self._db.session() as s:
                same = s.scalar(
                    select(Task).where(Task.name == manifest.name, Task.sha256 == digest)
                )
                if same is not None:
                    return _record(same, user_name(s, same.created_by)), False
                latest = s.scalar(select(func.max(Task.version)).where(Task.name == manifest.name))
                task = Task(
                    name=manifest.name,
                    version=(latest or 0) + 1,
                    label=manifest.version,
                    description=manifest.description,
                    sha256=digest,
                    signature=key.sign(manifest.name, manifest.version, digest),
                    requirements=list(manifest.requirements),
                    data_key=manifest.data_key,
                    manifest=manifest.model_dump(mode="json"),
                    size=len(data),
                    archive=data,
                    created_by=actor.id,
                )
                s.add(task)
                s.flush()
                return _record(task, actor.name), True

        return next_version(write)

    def list(self, actor: Actor, all_versions: bool = False) -> list[TaskRecord]:
        require(actor, Role.VIEWER, "view tasks")
        records = [_builtin_record(n) for n in builtin_names()]
        with self._db.session() as s:
            rows = s.scalars(select(Task).order_by(Task.name, Task.version)).all()
            shown = rows if all_versions else latest_of(rows)
            records += [_record(t, user_name(s, t.created_by)) for t in shown]
        return records

    def get(self, actor: Actor, name: str, version: int | None = None) -> TaskRecord:
        require(actor, Role.VIEWER, "view tasks")
        if name in builtin_names():
            return _builtin_record(name)
        with self._db.session() as s:
            task = get_task(s, name, version)
            return _record(task, user_name(s, task.created_by))

    def archive(self, actor: Actor, name: str, version: int | None = None) -> bytes:
        """The stored archive, checked against its SHA-256."""
        require(actor, Role.VIEWER, "export tasks")
        if name in builtin_names():
            return builtin_archive(name)
        with self._db.session() as s:
            task = s.scalar(
                select(Task)
                .options(undefer(Task.archive))
                .where(Task.id == get_task(s, name, version).id)
            )
            data = bytes(task.archive)
            if archive.sha256(data) != task.sha256:
                raise InvalidInput(
                    f"task {name} version {task.version}: the stored archive does not match "
                    "its SHA-256 (the database was altered)"
                )
            return data

    def shipped(self, actor: Actor, name: str, version: int, sha256: str) -> TaskSpec:
        """The exact task a job snapshotted, ready for its server to run and ship."""
        require(actor, Role.OPERATOR, "run tasks")
        if name in builtin_names():
            manifest = read_manifest(builtin_folder(name))
            if builtin_sha256(name) != sha256:
                raise InvalidInput(
                    f"built-in task {name} changed since the job was created "
                    f"({sha256[:12]}… then, {builtin_sha256(name)[:12]}… now)"
                )
            return TaskSpec(
                name,
                0,
                manifest.version,
                sha256,
                builtin=True,
                data_key=manifest.data_key,
                requirements=tuple(manifest.requirements),
            )
        data = self.archive(actor, name, version)
        if archive.sha256(data) != sha256:
            raise InvalidInput(f"task {name} version {version} is not the one the job ran")
        with self._db.session() as s:
            task = get_task(s, name, version)
            manifest = TaskManifest.model_validate(task.manifest)
            key = center_key(self._data_dir) if self._data_dir else None
            return TaskSpec(
                name=name,
                version=task.version,
                label=task.label,
                sha256=task.sha256,
                builtin=False,
                data_key=manifest.data_key,
                requirements=tuple(manifest.requirements),
                archive=data,
                signature=task.signature,
                public_key=key.public_bytes.hex() if key else "",
            )
