"""An aggregated model as ONNX, to deploy where FedDeck is not: the run's own task builds
the model, the stored weights go in, one real input from the task's data traces it."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

from app.core.artifacts import load_weights
from app.core.models import set_weights
from app.core.run.spec import RunSpec
from app.core.tasks.runtime import Task, as_arrays, load_run_task, num_samples
from app.errors import FedDeckError, InvalidInput


def _one_input(task: Task, config: dict) -> torch.Tensor:
    """A batch of one from the task's server-side data (test set, else validation)."""
    data = task.load_test_data(config)
    if num_samples(data) == 0:
        try:
            _, data = task.load_data(None, config)
        except FedDeckError:
            data = None
    if num_samples(data) == 0:
        raise InvalidInput(
            f"task {task.name} gives the control center no data (load_test_data) to trace "
            "the model with; ONNX export needs one input"
        )
    arrays = as_arrays(data)
    if arrays is not None:
        return torch.from_numpy(arrays[0][:1])
    sample = data[0][0]
    return (sample if isinstance(sample, torch.Tensor) else torch.as_tensor(sample)).unsqueeze(0)


def export_onnx(spec: RunSpec, weights: Path, sha256: str, target: Path) -> int:
    """Write the model with these weights to `target` (ONNX, batch size free); the bytes."""
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so before tracing)
        import onnxscript  # noqa: F401
    except ModuleNotFoundError:
        raise InvalidInput(
            "ONNX export needs the onnx extra: pip install 'feddeck[onnx]'"
        ) from None
    task, config = load_run_task(spec)
    model = task.build_model(config)
    try:
        set_weights(model, load_weights(weights, sha256))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    model.eval()
    example = _one_input(task, config)
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # its notes on optional operators are not ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                verbose=False,
            )
            program.save(str(partial))
        os.replace(partial, target)
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from exc
    except Exception as exc:  # the exporter's own refusals (an operator ONNX lacks, say)
        raise InvalidInput(f"ONNX export of task {task.name}: {type(exc).__name__}: {exc}") from exc
    finally:
        exporter_log.setLevel(level)
        partial.unlink(missing_ok=True)
    return target.stat().st_size
