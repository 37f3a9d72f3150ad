"""An edge's side of one run: what it holds for the run, and the preparation on joining
(the task found, checked and imported; this device's data loaded; the model built)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from app.core.fl_config import FLConfig
from app.core.run.protocol import JOINED, RunAddress
from app.wire.messages import Message


class EdgeRun:
    """One run this edge takes part in: its task, data, model and what it last sent."""

    def __init__(self, address: RunAddress, config: FLConfig, partition: int, parts: int) -> None:
        self.address, self.config = address, config
        self.partition, self.parts = partition, parts
        self.task = None
        self.task_config: dict = {}
        self.model = None
        self.train_data = self.validation = None
        self.samples = self.validation_samples = 0
        self.labels: dict[str, int] | None = None
        # A round sent again (the server saw this edge reconnect) is not trained twice:
        # the update is sent again, in case it was what got lost.
        self.last_round = 0
        self.last_upload: Message | None = None
        self.device = None
        self.logger: logging.Logger | None = None
        self.secagg = None  # secure aggregation: this run's EdgeSecrets
        self.trainer = None  # a protocol's own rounds on this edge (core/protocols)
        self.subs: list = []


def joined_status(run: EdgeRun, name: str) -> dict:
    """What an edge announces on joining a run: what it brings to it."""
    return {
        "state": JOINED,
        "name": name,
        "samples": run.samples,
        "validation_samples": run.validation_samples,
        "device": str(run.device),
        **({"labels": run.labels} if run.labels else {}),
        **({"secagg_key": run.secagg.public} if run.secagg else {}),
    }


class HubLog(logging.Handler):
    """A task's log lines, sent to the run's log topic (the control center's log view)."""

    def __init__(self, say: Callable[[str, str], None]) -> None:
        super().__init__(logging.INFO)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.say(record.levelname, record.getMessage()[:2000])
        except Exception:  # a log line must never break training
            self.handleError(record)


def prepare_run(
    run: EdgeRun,
    announced,
    archive,
    data: dict[str, Path],
    trust_center: str | None,
    cache_dir: Path,
    log_to: Callable[[str, str], None],
    logger_name: str,
) -> None:
    """Find, check and import the run's task, load this device's data (`data`: key →
    folder), build the model; a task's log lines go to `log_to(level, text)`."""
    import torch

    from app.core.tasks.delivery import TaskRefused, edge_task_folder
    from app.core.tasks.runtime import load_task, num_samples, pick_device

    torch.set_num_threads(1)  # many agents share one machine in demos
    if not isinstance(announced, dict):
        raise TaskRefused("the join request names no task")
    shipped = archive.tobytes() if archive is not None else None
    folder = edge_task_folder(
        announced, shipped, trust_center, cache_dir, lambda text: log_to("WARNING", text)
    )
    task = load_task(folder, str(announced["sha256"]))
    key = task.manifest.data_key
    if key and key not in data:
        have = ", ".join(sorted(data)) or "none"
        raise TaskRefused(
            f"task {task.name} reads data {key!r}, which this edge does not have "
            f"(it has: {have}); start it with --data {key}=PATH"
        )
    run.device = pick_device(run.config.training.device)
    run.task = task
    run.task_config = task.config_for(run.config, partition=run.partition, num_partitions=run.parts)
    run.train_data, run.validation = task.load_data(data.get(key) if key else None, run.task_config)
    run.samples, run.validation_samples = (
        num_samples(run.train_data),
        num_samples(run.validation),
    )
    run.labels = task.label_histogram(run.train_data, run.task_config)
    run.model = task.build_model(run.task_config)
    run.logger = logging.getLogger(logger_name)
    run.logger.propagate = False
    run.logger.setLevel(logging.INFO)
    run.logger.addHandler(HubLog(log_to))
