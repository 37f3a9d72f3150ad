"""How a run's figures read wherever the window shows them (Overview, Compare): one
wording per figure, so that two pages never disagree about the same run."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.entities.records import JobRecord

NONE = "-"


def run_duration(job: JobRecord, now: datetime | None = None) -> str:
    """'4.0 s', '3 min 05 s', '2 h 10 min'; up to now for a run still going."""
    if job.started_at is None:
        return NONE
    end = job.finished_at or now or datetime.now(UTC)
    start = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def task_label(job: JobRecord) -> str:
    """'digits (built in)' or 'cancer-mlp v2'."""
    if not job.task_name:
        return NONE
    version = "(built in)" if job.task_version == 0 else f"v{job.task_version}"
    return f"{job.task_name} {version}"


def run_label(job: JobRecord) -> str:
    """'#7 nightly digits': how a run is named in a legend or a column."""
    return f"#{job.id} {job.name}"
