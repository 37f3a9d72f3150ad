"""The centralized baseline: the same model and hyperparameters trained in one process on
the pooled data, round by round (a round: `local_epochs` epochs over all of it, the
optimizer fresh each round as on an edge), evaluated on the same test split as the
federated run's aggregate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.core.datasets import load_dataset
from app.core.fl_config import FLConfig


@dataclass(frozen=True)
class BaselineResult:
    test_accuracy: float
    test_loss: float
    epochs: int
    rounds: int
    weights: dict[str, np.ndarray]


# (round, test loss, test accuracy) after each round; False stops the training there
OnRound = Callable[[int, float, float], bool | None]


def run_centralized(config: FLConfig, on_round: OnRound | None = None) -> BaselineResult:
    import torch

    from app.core.models import build_model
    from app.core.training import evaluate, train_local

    spec = config.training
    torch.manual_seed(spec.seed)
    data = load_dataset(config.dataset, spec.seed)
    model = build_model(config.model, data.input_shape, data.num_classes)
    loss, acc, done = float("nan"), float("nan"), 0
    for rnd in range(1, spec.rounds + 1):
        train_local(model, data.x_train, data.y_train, spec, spec.seed + rnd)
        loss, acc = evaluate(model, data.x_test, data.y_test)
        done = rnd
        if on_round is not None and on_round(rnd, loss, acc) is False:
            break
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return BaselineResult(acc, loss, done * spec.local_epochs, done, weights)
