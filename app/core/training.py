"""Local training and evaluation: what one edge (or the centralized baseline) runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from app.core.fl_config import TrainingSpec
from app.core.models import get_weights, set_weights


@dataclass(frozen=True)
class TrainResult:
    weights: dict[str, np.ndarray]
    num_samples: int
    loss: float
    accuracy: float


def _optimizer(model: nn.Module, spec: TrainingSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=spec.lr)
    return torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9)


def train_local(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    spec: TrainingSpec,
    seed: int,
    prox_mu: float = 0.0,
    epochs: int | None = None,
) -> TrainResult:
    """Train in place; with prox_mu > 0 adds FedProx's (mu/2)·||w - w_start||²."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    anchor = [p.detach().clone() for p in model.parameters()] if prox_mu > 0 else None
    opt = _optimizer(model, spec)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for _ in range(epochs or spec.local_epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for start in range(0, len(x), spec.batch_size):
            batch = order[start : start + spec.batch_size]
            logits = model(xt[batch])
            loss = loss_fn(logits, yt[batch])
            if anchor is not None:
                prox = sum(
                    ((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True)
                )
                loss = loss + prox_mu / 2 * prox
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(1) == yt[batch]).sum())
            seen += len(batch)
    return TrainResult(
        get_weights(model), len(x), total_loss / max(seen, 1), correct / max(seen, 1)
    )


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) on a held-out set."""
    model.eval()
    logits = model(torch.from_numpy(x))
    loss = nn.functional.cross_entropy(logits, torch.from_numpy(y))
    return float(loss), float((logits.argmax(1).numpy() == y).mean())


def evaluate_weights(model: nn.Module, weights: dict[str, np.ndarray], x, y) -> tuple[float, float]:
    set_weights(model, weights)
    return evaluate(model, x, y)
