"""Plain read-only views of stored rows, so no ORM session leaks out of a service."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def human_size(size: int | float) -> str:
    """As people read sizes: 512 B, 10.0 KB, 19.1 MB (powers of 1024)."""
    n = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_span(seconds: float) -> str:
    """A span as people say it: 3 s, 5 min, 2 h 10 min, 3 d."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    return f"{hours // 24} d"


def human_ago(at: datetime | None, now: datetime) -> str:
    """ "3 s ago", "never"; a time just ahead (clocks apart) reads "just now"."""
    if at is None:
        return "never"
    delta = (now - at).total_seconds()
    return "just now" if delta < 1 else f"{human_span(delta)} ago"


def human_until(at: datetime, now: datetime) -> str:
    delta = (at - now).total_seconds()
    return "due now" if delta < 1 else f"in {human_span(delta)}"


def describe_retention(keep: int | None) -> str:
    if keep is None:
        return "all"
    return "none" if keep == 0 else f"last {keep} round{'s' if keep != 1 else ''}"


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
    keep_client_rounds: int | None = None  # None: every round's client updates are kept
    client_updates_kept: str = "all"  # the same, as said: all, none, last N rounds
    export_mlflow: str = ""  # each run that ends goes to this MLflow tracking URI
    export_tensorboard: str = ""  # and/or this TensorBoard log folder


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
    disk_bytes: int = 0  # the models it keeps on disk
    cluster: dict[str, Any] | None = None  # the engine and ranks it runs on; None: edges


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
