"""Plain read-only views of stored rows, so no ORM session leaks out of a service."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Record:
    def to_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()
        }


@dataclass(frozen=True)
class UserRecord(Record):
    id: int
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class GroupRecord(Record):
    id: int
    name: str
    description: str
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectRecord(Record):
    id: int
    name: str
    description: str
    group: str | None


@dataclass(frozen=True)
class EdgeRecord(Record):
    id: int
    name: str
    device_id: str
    tags: list[str]
    status: str
    last_seen: datetime | None
    hardware: dict[str, Any]
    data_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewEdge(Record):
    """Returned once at registration: the only time the plain token exists."""

    edge: EdgeRecord
    token: str


@dataclass(frozen=True)
class ConfigRecord(Record):
    id: int
    name: str
    version: int
    body: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class JobRecord(Record):
    id: int
    name: str
    tags: list[str]
    project: str
    config_name: str
    config_version: int | None
    config_snapshot: dict[str, Any]
    edges: list[str]
    status: str
    status_reason: str
    current_round: int
    total_rounds: int
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    init_model: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    task_name: str | None = None
    task_version: int | None = None
    task_sha256: str | None = None


@dataclass(frozen=True)
class TaskRecord(Record):
    name: str
    version: int  # 0: built into FedDeck
    label: str  # task.toml's version
    description: str
    sha256: str
    requirements: list[str]
    data_key: str
    size: int
    builtin: bool
    created_by: str | None = None
    created_at: datetime | None = None
