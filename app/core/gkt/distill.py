"""FedGKT's training steps: cross-entropy on the labels plus alpha times the distillation
loss towards the other side's logits at temperature T (Hinton et al. 2015, scaled by T² so
its gradients keep their size), on the edge over its images and on the server over the
edges' features."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher / T) ‖ softmax(student / T)) · T²."""
    t = temperature
    return F.kl_div(
        F.log_softmax(student / t, dim=1), F.softmax(teacher / t, dim=1), reduction="batchmean"
    ) * (t * t)


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    teacher: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    temperature: float,
    alpha: float,
    seed: int,
) -> float:
    """Epochs of SGD on (x, y), distilling from `teacher` (logits row by row with x) when
    given and alpha > 0; the mean loss of the last epoch."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    ts = torch.from_numpy(teacher) if teacher is not None and alpha > 0 else None
    model.train()
    last = float("nan")
    for _ in range(epochs):
        order = torch.randperm(len(ys), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(ys), batch_size):
            index = order[start : start + batch_size]
            if len(index) < 2 and isinstance(model, nn.Sequential):
                continue  # batch normalisation needs two samples
            logits = model(xs[index])
            loss = F.cross_entropy(logits, ys[index])
            if ts is not None:
                loss = loss + alpha * kd_loss(logits, ts[index], temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            seen += len(index)
        last = total / max(seen, 1)
    return last


@torch.no_grad()
def forward(module: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The module's outputs for x, in evaluation mode, as float32."""
    module.eval()
    out = [module(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0,), np.float32)


def scores(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and cross-entropy of logits against labels."""
    if len(y) == 0:
        return {}
    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y))
    return {"accuracy": float((logits.argmax(1) == y).mean()), "loss": float(loss)}
