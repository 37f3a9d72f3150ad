"""The centralized baseline: the same model and epochs, trained on the pooled data."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.datasets import load_dataset
from app.core.fl_config import FLConfig


@dataclass(frozen=True)
class BaselineResult:
    test_accuracy: float
    test_loss: float
    epochs: int


def run_centralized(config: FLConfig) -> BaselineResult:
    import torch

    from app.core.models import build_model
    from app.core.training import evaluate, train_local

    torch.manual_seed(config.training.seed)
    data = load_dataset(config.dataset, config.training.seed)
    model = build_model(config.model, data.input_shape, data.num_classes)
    epochs = config.training.rounds * config.training.local_epochs
    train_local(
        model, data.x_train, data.y_train, config.training, config.training.seed, epochs=epochs
    )
    loss, acc = evaluate(model, data.x_test, data.y_test)
    return BaselineResult(acc, loss, epochs)
