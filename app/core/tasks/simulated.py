"""The built-in simulation tasks' code (resources/tasks/digits, mnist1d, synthetic): the data
ships with FedDeck, and each edge takes its share by the config's partitioning, so no edge
needs data of its own. A task like any other: only its module imports this one."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.datasets import Dataset, load_dataset
from app.core.fl_config import DatasetSpec, ModelSpec, PartitionSpec
from app.core.partition import iid, partition


def _dataset(name: str, config: dict[str, Any]) -> Dataset:
    spec = DatasetSpec.model_validate({**config.get("dataset", {}), "name": name})
    return load_dataset(spec, int(config.get("seed", 0)))


def build_model(name: str, config: dict[str, Any]):
    from app.core.models import build_model as build

    data = _dataset(name, config)
    return build(
        ModelSpec.model_validate(config.get("model", {})), data.input_shape, data.num_classes
    )


def load_data(name: str, config: dict[str, Any]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """This edge's share of the training split, and of the test split as its validation set."""
    data = _dataset(name, config)
    index, parts = int(config.get("partition", 0)), int(config.get("num_partitions", 1))
    spec = PartitionSpec.model_validate(config.get("partitioning", {}))
    share = partition(data.y_train, parts, spec)[index]
    held_out = iid(data.y_test, parts, spec.seed)[index] if parts <= len(data.y_test) else []
    return (
        (data.x_train[share], data.y_train[share]),
        (data.x_test[held_out], data.y_test[held_out]),
    )


def load_test_data(name: str, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    data = _dataset(name, config)
    return data.x_test, data.y_test
