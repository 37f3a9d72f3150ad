"""The centralized baseline of a job, recorded as a run of its own: the job's config (model,
hyperparameters, rounds times local epochs) trained in one process on the pooled data of its
built-in task, each round's test figures and model stored as a federated run's aggregate
are, so Compare draws federated against centralized. Only a built-in task's data can be
pooled here: an operator's task trains on data that lives on the edges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.core.artifacts import save_weights
from app.core.fl_config import parse_config
from app.core.run.directory import RunDir
from app.errors import InvalidInput
from app.services.entities.jobs import JobRecord
from app.services.registry import Services
from app.services.runs.events import EventBus, LiveEvent
from app.services.security.auth import Actor

TAG = "centralized"

# (round, rounds, test accuracy) as each round ends
Progress = Callable[[int, int, float], None]


def create_baseline(services: Services, actor: Actor, job_id: int) -> JobRecord:
    """A QUEUED job `<name> (centralized)` with job `job_id`'s project, config and tags
    (and the tag `centralized`); refused for a job whose task's data is on the edges."""
    source = services.jobs.get(actor, job_id)
    config = parse_config(source.config_snapshot, f"job {job_id}'s config")
    if config.task.name not in (None, config.dataset.name):
        raise InvalidInput(
            f"job {job_id} trains task {config.task.name!r}, whose data is on the edges: "
            f"a centralized baseline needs a built-in task's data ({config.dataset.name}, "
            "mnist1d, synthetic) to pool here"
        )
    name = f"{source.name} (centralized)"[:128]
    return services.jobs.create(
        actor,
        name,
        source.project,
        source.config_name,
        [],
        config_version=source.config_version,
        tags=[*source.tags, TAG],
    )


def run_baseline(
    services: Services,
    artifacts_dir: Path,
    actor: Actor,
    job_id: int,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    events: EventBus | None = None,
) -> JobRecord:
    """Train a QUEUED baseline job here (blocking: call it off the window's thread) and
    record it; it ends FINISHED, STOPPED (`stop` set) or FAILED with the reason. `events`:
    the live events ingest would give for a run over a hub, for the window's views."""
    from app.core.centralized import run_centralized

    job = services.jobs.get(actor, job_id)
    config = parse_config(job.config_snapshot, f"job {job_id}'s config")
    rounds = config.training.rounds
    live = events or EventBus()

    def changed(record: JobRecord, accuracy: float | None = None) -> None:
        data = {"status": record.status, "round": record.current_round, "name": record.name}
        live.emit(LiveEvent("job", job_id, {**data, "reason": record.status_reason,
                                             "test_accuracy": accuracy}))  # fmt: skip

    def say(level: str, text: str) -> None:
        services.run_data.note(job_id, "server", level, text)
        data = {"node": "server", "at": time.time(), "level": level, "text": text}
        live.emit(LiveEvent("log", job_id, data))

    services.jobs.transition(actor, job_id, "STARTING", "centralized baseline")
    changed(services.jobs.transition(actor, job_id, "RUNNING", "training on the pooled data"))

    def on_round(rnd: int, loss: float, accuracy: float) -> bool:
        values = {"test_accuracy": accuracy, "test_loss": loss}
        services.run_data.record_round(job_id, rnd, values, None)
        services.jobs.record_progress(actor, job_id, rnd)
        live.emit(
            LiveEvent("metric", job_id, {"round": rnd, "node": "aggregate", "values": values})
        )
        say("INFO", f"run {job_id}: round {rnd}/{rounds}: test accuracy {accuracy:.4f}, "
                    f"test loss {loss:.4f} (centralized)")  # fmt: skip
        now = services.jobs.get(actor, job_id)
        changed(now, accuracy)
        if progress is not None:
            progress(rnd, rounds, accuracy)
        stopped_elsewhere = now.status == "STOPPED"  # `job stop`, the window's Stop
        return not (stopped_elsewhere or (stop is not None and stop.is_set()))

    try:
        result = run_centralized(config, on_round)
        model = save_weights(RunDir(artifacts_dir, job_id).model(result.rounds, "aggregate"),
                             result.weights)  # fmt: skip
        services.run_data.record_round(job_id, result.rounds, {}, model)
    except Exception as exc:
        reason = f"centralized baseline failed: {exc}"
        say("ERROR", reason)
        services.jobs.settle(actor, job_id, "FAILED", reason, 0)
    else:
        if result.rounds < rounds:
            reason, state = f"stopped after round {result.rounds}", "STOPPED"
        else:
            reason, state = (
                f"centralized: {result.epochs} epochs on the pooled {config.dataset.name} "
                f"training data, test accuracy {result.test_accuracy:.4f}",
                "FINISHED",
            )
        services.jobs.settle(actor, job_id, state, reason, result.rounds)
    done = services.jobs.get(actor, job_id)
    changed(done)
    return done
