"""The built-in loop's optimisers: torch.optim's updates to the bit, without torch._dynamo."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from app.core.fl_config import TrainingSpec
from app.core.optimizers import Optimizer

CASES = {
    "sgd": dict(optimizer="sgd", momentum=0.0),
    "sgd, momentum, Nesterov, decay": dict(
        optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=0.01
    ),
    "adam, decay": dict(optimizer="adam", weight_decay=0.01),
    "adamw": dict(optimizer="adamw", weight_decay=0.05),
}


def _torch_optimizer(params, spec: TrainingSpec, lr: float):
    if spec.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=spec.momentum, nesterov=spec.nesterov,
            weight_decay=spec.weight_decay,
        )  # fmt: skip
    kind = torch.optim.Adam if spec.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=lr, weight_decay=spec.weight_decay)


def _trained(make, spec: TrainingSpec) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    model[0].bias.requires_grad_(False)  # a frozen parameter is left alone
    opt = make(model.parameters(), spec, 0.05)
    data = torch.Generator().manual_seed(1)
    for step in range(12):
        x, y = torch.randn(10, 8, generator=data), torch.randint(0, 3, (10,), generator=data)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if step == 5:  # a step where one layer gets no gradient
            loss = nn.functional.cross_entropy(model[2](model[1](x[:, :16].new_zeros(10, 16))), y)
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_weights_are_torch_optims_to_the_bit(case):
    spec = TrainingSpec(**CASES[case])
    ours, theirs = _trained(Optimizer, spec), _trained(_torch_optimizer, spec)
    start = _trained(lambda params, spec, lr: Optimizer(params, spec, 0.0), spec)
    assert any(not torch.equal(a, b) for a, b in zip(ours, start, strict=True))  # it trained
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_training_an_edge_never_imports_torch_dynamo():
    code = (
        "import sys, numpy as np\n"
        "from app.core.fl_config import ModelSpec, TrainingSpec\n"
        "from app.core.models import build_model\n"
        "from app.core.training import train_local\n"
        "from app.core.warmup import warm_up\n"
        "warm_up()\n"
        "x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)\n"
        "y = np.arange(64) % 10\n"
        "for kind in ('sgd', 'adam', 'adamw'):\n"
        "    spec = TrainingSpec(optimizer=kind, grad_clip=1.0)\n"
        "    train_local(build_model(ModelSpec(), (64,), 10), x, y, spec, seed=0, prox_mu=0.1)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
