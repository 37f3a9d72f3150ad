"""The entities' words without the database: roles, states, defaults.

Importable without SQLAlchemy, so that an edge-only install (no control center) can still
name them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

DEFAULT_KEEP_CLIENT_ROUNDS = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class EdgeStatus(enum.StrEnum):
    IDLE = "IDLE"
    TRAINING = "TRAINING"
    OFFLINE = "OFFLINE"
    ERROR = "ERROR"


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
