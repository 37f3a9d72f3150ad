"""Local training and evaluation: what one edge (or the centralized baseline) runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from app.core.fl_config import TrainingSpec
from app.core.optimizers import Optimizer


@dataclass(frozen=True)
class TrainResult:
    """What a local training reports; the weights are the model's own (trained in place)."""

    num_samples: int
    loss: float
    accuracy: float


class _Step:
    """One optimisation step with the config's extras: FedProx's term and gradient clipping."""

    def __init__(self, model: nn.Module, spec: TrainingSpec, lr: float, prox) -> None:
        self.model, self.spec, self.prox = model, spec, prox
        self.opt = Optimizer(model.parameters(), spec, lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[float, int]:
        logits = self.model(xb)
        loss = self.loss_fn(logits, yb)
        if self.prox is not None:
            loss = loss + self.prox(self.model)
        self.opt.zero_grad()
        loss.backward()
        if self.spec.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.spec.grad_clip)
        self.opt.step()
        return loss.item() * len(yb), int((logits.argmax(1) == yb).sum())


def _fedprox(model: nn.Module, mu: float):
    if mu <= 0:
        return None
    anchor = [p.detach().clone() for p in model.parameters()]

    def term(m: nn.Module) -> torch.Tensor:
        return (
            mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(m.parameters(), anchor, strict=True))
        )

    return term


def train_local(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    spec: TrainingSpec,
    seed: int,
    prox_mu: float = 0.0,
    epochs: int | None = None,
    device: torch.device | str = "cpu",
    lr: float | None = None,
) -> TrainResult:
    """Train in place on arrays; with prox_mu > 0 adds FedProx's (mu/2)·||w - w_start||²."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.to(device)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    step = _Step(model, spec, spec.lr if lr is None else lr, _fedprox(model, prox_mu))
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for _ in range(epochs or spec.local_epochs):
        order = torch.from_numpy(rng.permutation(len(x))).to(device)
        for start in range(0, len(x), spec.batch_size):
            batch = order[start : start + spec.batch_size]
            loss, right = step(xt[batch], yt[batch])
            total_loss += loss
            correct += right
            seen += len(batch)
    return TrainResult(len(x), total_loss / max(seen, 1), correct / max(seen, 1))


def train_on_loader(
    model: nn.Module,
    loader,
    spec: TrainingSpec,
    seed: int,
    samples: int,
    device,
    lr: float,
    prox_mu: float = 0.0,
    progress=None,
) -> TrainResult:
    """The same loop over a DataLoader of (input, label) batches (a torch Dataset)."""
    torch.manual_seed(seed)
    model.to(device)
    step = _Step(model, spec, lr, _fedprox(model, prox_mu))
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    batches = max(len(loader), 1) * spec.local_epochs
    for epoch in range(spec.local_epochs):
        for i, (xb, yb) in enumerate(loader):
            loss, right = step(xb.to(device).float(), yb.to(device).long())
            total_loss += loss
            correct += right
            seen += len(yb)
            if progress is not None:
                progress((epoch * len(loader) + i + 1) / batches)
    return TrainResult(samples, total_loss / max(seen, 1), correct / max(seen, 1))


@torch.no_grad()
def evaluate(
    model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device | str = "cpu"
) -> tuple[float, float]:
    """(loss, accuracy) on a held-out set."""
    if len(y) == 0:
        return float("nan"), float("nan")
    model.to(device)
    model.eval()
    logits = model(torch.from_numpy(x).to(device))
    loss = nn.functional.cross_entropy(logits, torch.from_numpy(y).to(device))
    return float(loss), float((logits.argmax(1).cpu().numpy() == y).mean())


@torch.no_grad()
def evaluate_loader(model: nn.Module, loader, device) -> tuple[float, float]:
    model.to(device)
    model.eval()
    total, correct, seen = 0.0, 0, 0
    for xb, yb in loader:
        xb, yb = xb.to(device).float(), yb.to(device).long()
        logits = model(xb)
        total += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
        seen += len(yb)
    if not seen:
        return float("nan"), float("nan")
    return total / seen, correct / seen
