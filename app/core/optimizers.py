"""The built-in training loop's optimisers: torch's own update rules, called through their
public functional forms (`torch.optim.sgd.sgd`, `torch.optim.adam.adam`), with the state
kept here.

torch.optim's classes wrap their methods so that torch.compile skips them, and the wrapper
imports `torch._dynamo` on first use: about 70 MB and a second of CPU in every edge process,
for a compiler the loop never runs. The updates are the same kernels with the same
arguments, so the weights are the same to the bit (tests/fl/test_optimizers.py).
"""

from __future__ import annotations

import torch
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from app.core.fl_config import TrainingSpec

BETAS = (0.9, 0.999)  # torch.optim.Adam's and AdamW's defaults
EPS = 1e-8


class Optimizer:
    """SGD (momentum, Nesterov, weight decay), Adam or AdamW over a model's parameters."""

    def __init__(self, params, spec: TrainingSpec, lr: float) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.spec = lr, spec
        self.momentum: list[torch.Tensor | None] = [None] * len(self.params)
        self.moments: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params = [self.params[i] for i in live]
        grads = [p.grad for p in params]
        if self.spec.optimizer == "sgd":
            buffers = [self.momentum[i] for i in live]
            sgd(
                params,
                grads,
                buffers,
                weight_decay=self.spec.weight_decay,
                momentum=self.spec.momentum,
                lr=self.lr,
                dampening=0.0,
                nesterov=self.spec.nesterov,
                maximize=False,
            )
            for i, buffer in zip(live, buffers, strict=True):  # made on the first step
                self.momentum[i] = buffer
            return
        for i, p in zip(live, params, strict=True):
            if i not in self.moments:  # as torch.optim.Adam lays its state out
                step = torch.tensor(0.0, dtype=torch.get_default_dtype())
                self.moments[i] = (step, torch.zeros_like(p), torch.zeros_like(p))
        steps, exp_avgs, exp_avg_sqs = zip(*(self.moments[i] for i in live), strict=True)
        adam(
            params,
            grads,
            list(exp_avgs),
            list(exp_avg_sqs),
            [],
            list(steps),
            has_complex=any(torch.is_complex(p) for p in params),
            decoupled_weight_decay=self.spec.optimizer == "adamw",
            amsgrad=False,
            beta1=BETAS[0],
            beta2=BETAS[1],
            lr=self.lr,
            weight_decay=self.spec.weight_decay,
            eps=EPS,
            maximize=False,
        )
