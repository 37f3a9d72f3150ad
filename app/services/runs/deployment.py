"""An aggregated model out of FedDeck, to deploy: as ONNX (the `onnx` extra), built by the
run's own task with the weights on record."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.errors import InvalidInput, NotFound
from app.services.registry import Services
from app.services.runs.serving import build_run_spec
from app.services.security.auth import Actor, require
from app.storage.vocabulary import Role


def export_onnx(
    services: Services,
    settings: Settings,
    actor: Actor,
    job_id: int,
    target: Path,
    round_: int | None = None,
) -> dict:
    """The run's aggregated model of `round_` (default: its last) as an ONNX file."""
    require(actor, Role.VIEWER, "export models")
    from app.core.onnx_export import export_onnx as write_onnx  # torch, only when asked

    models = [a for a in services.run_data.artifacts(actor, job_id) if a.node == "aggregate"]
    if round_ is not None:
        models = [a for a in models if a.round == round_]
    if not models:
        which = f"of round {round_}" if round_ is not None else "at all"
        raise NotFound(f"run {job_id} has no aggregated model {which}")
    model = models[-1]
    target = Path(target).expanduser()
    if not target.parent.is_dir():
        raise InvalidInput(f"folder {target.parent} does not exist")
    spec = build_run_spec(services, settings, job_id)
    size = write_onnx(spec, Path(model.path), model.sha256, target)
    return {"job_id": job_id, "round": model.round, "onnx": str(target), "bytes": size}
