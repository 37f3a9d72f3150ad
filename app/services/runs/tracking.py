"""A run as experiment trackers take it: its config as flat parameters, every figure of
every round by node, the final aggregated model. `export_run` sends it to MLflow and/or
TensorBoard (the optional `mlflow` / `tensorboard` extras)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import FedDeckError, InvalidInput
from app.services.entities.records import JobRecord
from app.services.entities.run_data import ArtifactRecord, MetricRecord
from app.services.registry import Services
from app.services.security.auth import SYSTEM, Actor

MLFLOW_STATUS = {"FINISHED": "FINISHED", "FAILED": "FAILED", "STOPPED": "KILLED"}
RUN_TAG = "feddeck.run_id"
PARAM_VALUE_MAX = 6000  # MLflow's limit on one parameter's value
BATCH_METRICS, BATCH_PARAMS = 1000, 100  # MLflow's limits per log_batch call


@dataclass(frozen=True)
class RunExport:
    """What a tracker receives of one run."""

    job: JobRecord
    params: dict[str, str]
    metrics: list[MetricRecord]
    final_model: ArtifactRecord | None

    @staticmethod
    def metric_key(m: MetricRecord) -> str:
        """The aggregate's figures under their own names; a client's under its name."""
        return m.name if m.node == "aggregate" else f"{m.node}/{m.name}"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"training": {"lr": 0.1}} -> {"training.lr": "0.1"}; lists as JSON."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            flat[name] = text[:PARAM_VALUE_MAX]
    return flat


def gather(services: Services, actor: Actor, job_id: int) -> RunExport:
    job = services.jobs.get(actor, job_id)
    if job.status in ("QUEUED", "STARTING", "RUNNING"):
        raise InvalidInput(f"run {job_id} is {job.status}; export it once it has ended")
    models = [a for a in services.run_data.artifacts(actor, job_id) if a.node == "aggregate"]
    return RunExport(
        job=job,
        params=flatten(job.config_snapshot),
        metrics=services.run_data.metrics(actor, job_id),
        final_model=models[-1] if models else None,
    )


def _millis(job: JobRecord, end: bool = False) -> int:
    at = (job.finished_at if end else job.started_at) or job.created_at
    return int(at.timestamp() * 1000)


def _artifact_location(tracking_uri: str) -> str | None:
    """Beside an SQLite store its artifacts go in `mlartifacts/` (MLflow's default is
    `./mlruns` of whatever folder the control center runs in); other stores decide."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts").as_uri()
    return None


def to_mlflow(run: RunExport, tracking_uri: str) -> str:
    """The run as an MLflow run in the experiment named after its project (made if new);
    an earlier export of the same run is replaced. Returns the MLflow run id."""
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ModuleNotFoundError:
        raise InvalidInput(
            "MLflow export needs the mlflow extra: pip install 'feddeck[mlflow]'"
        ) from None
    job = run.job
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        experiment = client.get_experiment_by_name(job.project)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else client.create_experiment(job.project, _artifact_location(tracking_uri))
        )
        for old in client.search_runs([experiment_id], f"tags.`{RUN_TAG}` = '{job.id}'"):
            client.delete_run(old.info.run_id)
        tags = {
            RUN_TAG: str(job.id),
            "feddeck.status": job.status,
            "feddeck.edges": ", ".join(job.edges),
            "feddeck.config": f"{job.config_name} v{job.config_version}",
            "mlflow.note.content": job.status_reason or f"FedDeck run #{job.id}",
        }
        created = client.create_run(
            experiment_id, start_time=_millis(job), tags=tags, run_name=f"#{job.id} {job.name}"
        )
        run_id = created.info.run_id
        params = [Param(k, v) for k, v in sorted(run.params.items())]
        for i in range(0, len(params), BATCH_PARAMS):
            client.log_batch(run_id, params=params[i : i + BATCH_PARAMS])
        stamp = _millis(job, end=True)
        metrics = [Metric(run.metric_key(m), m.value, stamp, m.round) for m in run.metrics]
        for i in range(0, len(metrics), BATCH_METRICS):
            client.log_batch(run_id, metrics=metrics[i : i + BATCH_METRICS])
        if run.final_model is not None:
            client.log_artifact(run_id, run.final_model.path, artifact_path="model")
        client.set_terminated(
            run_id, status=MLFLOW_STATUS.get(job.status, "FAILED"), end_time=stamp
        )
    except InvalidInput:
        raise
    except Exception as exc:  # the tracker's own errors (unreachable server, bad URI)
        raise InvalidInput(f"MLflow at {tracking_uri}: {type(exc).__name__}: {exc}") from exc
    return run_id


def to_tensorboard(run: RunExport, log_dir: Path) -> Path:
    """The run's figures as TensorBoard scalars under `log_dir/<project>/run-<id>` (replaced
    if there), beside its config as JSON and the final model."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ModuleNotFoundError:
        raise InvalidInput(
            "TensorBoard export needs the tensorboard extra: pip install 'feddeck[tensorboard]'"
        ) from None
    job = run.job
    target = Path(log_dir).expanduser() / job.project / f"run-{job.id}"
    try:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        writer = EventFileWriter(str(target))
        wall = job.finished_at.timestamp() if job.finished_at else time.time()
        for m in run.metrics:
            value = summary_pb2.Summary.Value(tag=run.metric_key(m), simple_value=m.value)
            event = event_pb2.Event(
                wall_time=wall, step=m.round, summary=summary_pb2.Summary(value=[value])
            )
            writer.add_event(event)
        writer.close()
        (target / "config.json").write_text(json.dumps(job.config_snapshot, indent=2))
        if run.final_model is not None:
            shutil.copyfile(run.final_model.path, target / "final-model.safetensors")
    except OSError as exc:
        raise InvalidInput(f"TensorBoard folder {target}: {exc.strerror or exc}") from exc
    return target


def export_run(
    services: Services,
    actor: Actor,
    job_id: int,
    mlflow_uri: str | None = None,
    tensorboard_dir: str | Path | None = None,
) -> dict[str, str]:
    if not mlflow_uri and not tensorboard_dir:
        raise InvalidInput("say where to: --mlflow URI and/or --tensorboard DIR")
    run = gather(services, actor, job_id)
    done: dict[str, str] = {"job_id": str(job_id)}
    if mlflow_uri:
        done["mlflow_run_id"] = to_mlflow(run, mlflow_uri)
    if tensorboard_dir:
        done["tensorboard_dir"] = str(to_tensorboard(run, Path(tensorboard_dir)))
    return done


def export_ended_run(services: Services, job_id: int, wait_s: float = 10.0) -> dict | None:
    """A run ended: export it where its project says, once ingest has recorded its last
    round (waiting up to `wait_s`), and say in the run's log how that went."""

    job = services.jobs.get(SYSTEM, job_id)
    project = services.projects.get(SYSTEM, job.project)
    if not (project.export_mlflow or project.export_tensorboard):
        return None
    deadline = time.monotonic() + wait_s
    while job.current_round and time.monotonic() < deadline:
        rounds = {
            m.round for m in services.run_data.metrics(SYSTEM, job_id) if m.node == "aggregate"
        }
        if job.current_round in rounds:
            break
        time.sleep(0.2)
    try:
        done = export_run(
            services, SYSTEM, job_id, project.export_mlflow, project.export_tensorboard or None
        )
    except FedDeckError as exc:
        services.run_data.note(job_id, "center", "WARNING", f"export failed: {exc}")
        return None
    where = []
    if "mlflow_run_id" in done:
        where.append(f"MLflow run {done['mlflow_run_id']} at {project.export_mlflow}")
    if "tensorboard_dir" in done:
        where.append(f"TensorBoard {done['tensorboard_dir']}")
    services.run_data.note(job_id, "center", "INFO", f"exported to {' and '.join(where)}")
    return done
