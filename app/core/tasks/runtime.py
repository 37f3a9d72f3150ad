"""Importing a task and running it: the calls FedDeck makes, and its own supervised loop
for tasks that bring no `train` / `evaluate`.

The task module's interface (docs/tasks.md):

    build_model(config) -> torch.nn.Module
    load_data(data_dir: pathlib.Path | None, config) -> (train, validation)
    train(model, train_data, config, ctx) -> dict[str, float]        optional
    evaluate(model, data, config, ctx) -> dict[str, float]           optional
    load_test_data(config) -> data | None                            optional, server side
    label_histogram(train_data, config) -> dict[str, int]            optional, reported

Data is a torch Dataset of (input, label) pairs, or a pair of arrays (x, y).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import random
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.core.fl_config import FLConfig, TrainingSpec
from app.core.run.spec import RunSpec
from app.core.tasks.manifest import TaskManifest, read_manifest
from app.errors import FedDeckError, InvalidInput

log = logging.getLogger(__name__)


class TaskFailed(FedDeckError):
    """The task's own code raised: the message names the call and the error."""


@dataclass
class TaskContext:
    """What a task's `train` and `evaluate` get besides model, data and config."""

    device: torch.device
    round: int
    training: TrainingSpec
    seed: int
    logger: logging.Logger
    progress: Callable[[float], None] = lambda _fraction: None
    prox_mu: float = 0.0
    _anchor: list[torch.Tensor] | None = field(default=None, repr=False)

    def remember_global(self, model: nn.Module) -> None:
        """Called by FedDeck before `train`: the global weights FedProx pulls towards."""
        self._anchor = [p.detach().clone() for p in model.parameters()] if self.prox_mu else None

    def proximal_term(self, model: nn.Module) -> torch.Tensor:
        """FedProx's (mu/2)·||w - w_global||², zero unless the algorithm asks for it; add it to
        the loss in a task's own `train`."""
        if not self._anchor:
            return torch.zeros((), device=self.device)
        drift = sum(
            ((p - a) ** 2).sum() for p, a in zip(model.parameters(), self._anchor, strict=True)
        )
        return self.prox_mu / 2 * drift


@dataclass(frozen=True)
class Task:
    manifest: TaskManifest
    folder: Path
    sha256: str
    module: types.ModuleType

    @property
    def name(self) -> str:
        return self.manifest.name

    def config_for(self, fl: FLConfig, **extra: Any) -> dict[str, Any]:
        """The `config` every task call gets: the task's defaults, the config's [task.params],
        FedDeck's own sections (model, dataset, partitioning, training) and `extra`."""
        sections = fl.model_dump(mode="json", include={"model", "dataset", "partitioning"})
        return {
            **self.manifest.defaults,
            **fl.task.params,
            **sections,
            "training": fl.training.model_dump(mode="json"),
            "seed": fl.training.seed,
            **extra,
        }

    def _call(self, what: str, *args: Any) -> Any:
        try:
            return getattr(self.module, what)(*args)
        except Exception as exc:
            raise TaskFailed(
                f"task {self.name}: {what} raised {type(exc).__name__}: {exc}"
            ) from exc

    def build_model(self, config: dict[str, Any]) -> nn.Module:
        model = self._call("build_model", config)
        if not isinstance(model, nn.Module):
            raise TaskFailed(f"task {self.name}: build_model returned {type(model).__name__}")
        return model

    def load_data(self, data_dir: Path | None, config: dict[str, Any]) -> tuple[Any, Any]:
        result = self._call("load_data", data_dir, config)
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise TaskFailed(f"task {self.name}: load_data must return (train, validation)")
        train, validation = result
        if num_samples(train) == 0:
            raise TaskFailed(f"task {self.name}: load_data gave no training samples")
        return train, validation

    def load_test_data(self, config: dict[str, Any]) -> Any | None:
        if not hasattr(self.module, "load_test_data"):
            return None
        return self._call("load_test_data", config)

    def label_histogram(self, data: Any, config: dict[str, Any]) -> dict[str, int] | None:
        """What the task lets an edge say about its labels (counts only), if anything."""
        if not hasattr(self.module, "label_histogram"):
            return None
        counts = self._call("label_histogram", data, config)
        if not isinstance(counts, dict) or len(counts) > 1000:
            raise TaskFailed(f"task {self.name}: label_histogram must return label → count")
        try:
            return {str(k)[:64]: int(v) for k, v in counts.items()}
        except (TypeError, ValueError):
            raise TaskFailed(f"task {self.name}: label_histogram counts must be integers") from None

    def train(self, model: nn.Module, data: Any, config: dict, ctx: TaskContext) -> dict:
        ctx.remember_global(model)
        seed_everything(ctx.seed)
        if hasattr(self.module, "train"):
            metrics = self._call("train", model, data, config, ctx)
        else:
            metrics = supervised_train(model, data, ctx)
        return _metrics(self.name, "train", metrics)

    def evaluate(self, model: nn.Module, data: Any, config: dict, ctx: TaskContext) -> dict:
        seed_everything(ctx.seed)
        if hasattr(self.module, "evaluate"):
            metrics = self._call("evaluate", model, data, config, ctx)
        else:
            metrics = supervised_evaluate(model, data, ctx.device)
        return _metrics(self.name, "evaluate", metrics)


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's global generators, seeded before every task call that
    trains or evaluates: a task's own loop repeats a run exactly as FedDeck's does."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _metrics(task: str, what: str, metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) for k, v in metrics.items()
    ):
        raise TaskFailed(f"task {task}: {what} must return a dict of metric name → number")
    return {k: float(v) for k, v in metrics.items()}


def load_task(folder: Path, sha256: str) -> Task:
    """Import the task in `folder` as its own package (named by its hash, so two versions
    never mix and the task's modules can import each other relatively)."""
    manifest = read_manifest(folder)
    package = f"feddeck_task_{sha256[:16]}"
    if package not in sys.modules:
        spec = importlib.util.spec_from_loader(package, loader=None, is_package=True)
        module = importlib.util.module_from_spec(spec)
        module.__path__ = [str(folder)]
        sys.modules[package] = module
    try:
        entry = importlib.import_module(f"{package}.{manifest.entry}")
    except Exception as exc:
        raise TaskFailed(
            f"task {manifest.name}: importing {manifest.entry}.py raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    missing = [f for f in ("build_model", "load_data") if not callable(getattr(entry, f, None))]
    if missing:
        raise InvalidInput(f"task {manifest.name}: {manifest.entry}.py lacks {', '.join(missing)}")
    return Task(manifest, folder, sha256, entry)


def load_run_task(spec: RunSpec) -> tuple[Task, dict[str, Any]]:
    """A run's task as its server runs it (from the run folder when shipped), with the
    config its calls get."""
    from app.core.run.directory import RunDir
    from app.core.tasks.delivery import server_task_folder

    folder = server_task_folder(spec.task, RunDir(spec.artifacts_dir, spec.job_id).path)
    task = load_task(folder, spec.task.sha256)
    config = task.config_for(spec.config, partition=0, num_partitions=max(1, len(spec.edges)))
    return task, config


# -- data ---------------------------------------------------------------------------------
def as_arrays(data: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, y) as float32 / int64 arrays if the data is a pair of arrays, else None."""
    if isinstance(data, tuple | list) and len(data) == 2:
        x, y = (d.numpy() if isinstance(d, torch.Tensor) else np.asarray(d) for d in data)
        if len(x) != len(y):
            raise TaskFailed(f"data holds {len(x)} inputs but {len(y)} labels")
        x = x.astype(np.float32, copy=False)
        return np.ascontiguousarray(x), np.ascontiguousarray(y.astype(np.int64, copy=False))
    return None


def num_samples(data: Any) -> int:
    if data is None:
        return 0
    arrays = as_arrays(data)
    return len(arrays[1]) if arrays is not None else len(data)


def _loader(data: Any, batch_size: int, shuffle: bool, seed: int):
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=shuffle, generator=generator
    )


def supervised_train(model: nn.Module, data: Any, ctx: TaskContext) -> dict[str, float]:
    """FedDeck's loop: cross-entropy, the configured optimizer and learning-rate schedule,
    FedProx's term, gradient clipping."""
    from app.core.training import train_local, train_on_loader

    lr = ctx.training.lr_at(ctx.round)
    arrays = as_arrays(data)
    if arrays is not None:
        result = train_local(
            model, *arrays, ctx.training, ctx.seed, prox_mu=ctx.prox_mu, device=ctx.device, lr=lr
        )
    else:
        loader = _loader(data, ctx.training.batch_size, True, ctx.seed)
        result = train_on_loader(
            model,
            loader,
            ctx.training,
            ctx.seed,
            len(data),
            ctx.device,
            lr,
            prox_mu=ctx.prox_mu,
            progress=ctx.progress,
        )
    return {"train_loss": result.loss, "train_accuracy": result.accuracy}


def supervised_evaluate(model: nn.Module, data: Any, device: torch.device) -> dict[str, float]:
    from app.core.training import evaluate, evaluate_loader

    arrays = as_arrays(data)
    if arrays is not None:
        loss, acc = evaluate(model, *arrays, device=device)
    else:
        loss, acc = evaluate_loader(model, _loader(data, 256, False, 0), device)
    return {"loss": loss, "accuracy": acc}


def pick_device(wanted: str) -> torch.device:
    """`auto`: the first CUDA device when there is one, else the CPU. A CUDA device is
    named with its index (`cuda:0`), as the edge reports where it trains."""
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(wanted)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise InvalidInput(f"device {wanted!r} asked for, but this edge has no CUDA")
    if (device.index or 0) >= torch.cuda.device_count():
        raise InvalidInput(f"device {wanted!r}: this edge has {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", device.index or 0)
