"""The life of a job's status: which transitions are allowed, which states are final,
and the log levels in order. No service here, so every service can use it."""

from __future__ import annotations

from app.errors import InvalidInput
from app.storage.models import JobStatus

S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.QUEUED: frozenset({S.STARTING, S.STOPPED, S.FAILED}),
    S.STARTING: frozenset({S.RUNNING, S.FAILED, S.STOPPED}),
    S.RUNNING: frozenset({S.FINISHED, S.FAILED, S.STOPPED}),
    S.FINISHED: frozenset(),
    S.FAILED: frozenset(),
    S.STOPPED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
LEVEL_ORDER = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_status(value: str) -> JobStatus:
    try:
        return JobStatus(value.upper())
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(f"unknown job status {value!r}: use one of {allowed}") from None
