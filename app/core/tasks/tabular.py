"""The models and data splits of the built-in no-code tasks (csv-mlp, npz-mlp, image-folder)."""

from __future__ import annotations

from typing import Any

from app.core.fl_config import ModelSpec
from app.core.tasks import loaders
from app.errors import InvalidInput


def _required(config: dict[str, Any], key: str) -> int:
    try:
        value = int(config[key])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f"[task.params] needs {key} = N (a whole number)") from None
    if value < 1:
        raise InvalidInput(f"[task.params] {key} must be at least 1")
    return value


def mlp(config: dict[str, Any]):
    from app.core.models import build_model

    spec = ModelSpec.model_validate({**config.get("model", {}), "kind": "mlp"})
    return build_model(spec, (_required(config, "features"),), _required(config, "classes"))


def cnn(config: dict[str, Any]):
    from app.core.models import build_model

    height, width = (int(v) for v in config["size"])
    spec = ModelSpec.model_validate({**config.get("model", {}), "kind": "cnn"})
    return build_model(spec, (int(config["channels"]), height, width), _required(config, "classes"))


def split(data_dir, suffix: str, read, config: dict[str, Any]):
    train, validation = loaders.train_and_validation(
        data_dir, suffix, read, float(config.get("validation_fraction", 0.2)), int(config["seed"])
    )
    classes = _required(config, "classes")
    for name, (_x, y) in (("training", train), ("validation", validation)):
        if len(y) and (y.min() < 0 or y.max() >= classes):
            raise InvalidInput(f"{name} labels run {y.min()}…{y.max()}; classes is {classes}")
    if config.get("standardize"):
        train, validation = loaders.standardize(train, validation)
    return train, validation
