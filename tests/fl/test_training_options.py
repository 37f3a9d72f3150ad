"""Training options: validated with the field named, and doing what they say."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from app.core.fl_config import TrainingSpec, parse_config
from app.core.models import get_weights
from app.core.training import train_local
from app.errors import InvalidInput


@pytest.mark.parametrize(
    ("training", "reason"),
    [
        ({"optimizer": "adam", "nesterov": True}, "nesterov needs optimizer 'sgd'"),
        ({"momentum": 0.0, "nesterov": True}, "nesterov needs optimizer 'sgd' with momentum"),
        ({"lr_schedule": "cosine", "lr": 0.1, "lr_min": 0.2}, "lr_min must be below lr"),
        ({"device": "gpu"}, "training.device: String should match pattern"),
        ({"optimizer": "rmsprop"}, "training.optimizer: Input should be"),
        ({"grad_clip": 0}, "training.grad_clip: Input should be greater than 0"),
        ({"weight_decay": -1}, "training.weight_decay: Input should be greater than or equal"),
    ],
)
def test_bad_options_are_refused_by_name(training, reason):
    with pytest.raises(InvalidInput, match=reason):
        parse_config({"name": "c", "training": training})


def test_learning_rate_schedules():
    step = TrainingSpec(lr=0.1, lr_schedule="step", lr_step_rounds=2, lr_gamma=0.5)
    assert [step.lr_at(r) for r in (1, 2, 3, 4, 5)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    cosine = TrainingSpec(lr=0.1, lr_schedule="cosine", lr_min=0.01, rounds=11)
    assert cosine.lr_at(1) == pytest.approx(0.1) and cosine.lr_at(11) == pytest.approx(0.01)
    assert cosine.lr_at(6) == pytest.approx(0.055)
    assert TrainingSpec(lr=0.1).lr_at(7) == 0.1


def test_gradient_clipping_bounds_each_step():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(32, 4)) * 100).astype(np.float32)  # huge inputs, huge gradients
    y = rng.integers(0, 2, 32).astype(np.int64)
    spec = TrainingSpec(lr=1.0, momentum=0.0, batch_size=32, grad_clip=0.01)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    before = get_weights(model)
    train_local(model, x, y, spec, seed=0)  # in place
    after = get_weights(model)
    step = math.sqrt(sum(float(((after[k] - before[k]) ** 2).sum()) for k in before))
    assert step <= 0.01 + 1e-6  # one step of lr 1 with the gradient's norm clipped to 0.01
