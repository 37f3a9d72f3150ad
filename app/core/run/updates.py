"""What the FL server accepts from an edge in a round: an update that fits the model and
the round, and an evaluation of the global model; and the evaluations averaged."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from app.core.algorithms.running_mean import is_finite
from app.wire.messages import Message


def update_problem(
    message: Message, job_id: int, rnd: int, waiting: set[str], reference: dict[str, np.ndarray]
) -> str | None:
    """Why this update is refused, or None if it is good."""
    if message.sender not in waiting:
        return "not selected for this round"
    if message.job_id != job_id:
        return f"it is for run {message.job_id}"
    if message.round != rnd:
        return f"it is for round {message.round}"
    samples = message.body.get("num_samples")
    if not isinstance(samples, int) or samples <= 0:
        return "num_samples missing or not positive"
    if set(message.tensors) != set(reference):
        return "its tensors do not match the model"
    for name, ref in reference.items():
        got = message.tensors[name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            want = f"{ref.dtype}{list(ref.shape)}"
            return f"tensor {name!r} is {got.dtype}{list(got.shape)}, expected {want}"
    if not is_finite(message.tensors):
        return "it holds NaN or infinite values"
    return None


def shortfall(
    selected: list[str], taken: list[str], refused: dict[str, str], shown: Callable[[str], str]
) -> str:
    """A round's updates too few: how many were taken, who was missing, who refused."""
    refused = {n: why for n, why in refused.items() if n not in taken}
    missing = sorted(set(selected) - set(taken) - set(refused))
    said = []
    if missing:
        said.append(f"missing: {', '.join(shown(n) for n in missing)}")
    if refused:
        said.append("refused: " + "; ".join(f"{shown(n)} ({why})" for n, why in refused.items()))
    return f"{len(taken)} updates taken ({', '.join(said)})"


def evaluation(body: object) -> dict[str, float] | None:
    """An edge's evaluation of the global model: finite numbers and a positive count."""
    if not isinstance(body, dict):
        return None
    values = {
        k: float(v)
        for k, v in body.items()
        if isinstance(k, str) and isinstance(v, int | float) and math.isfinite(v)
    }
    return values if values.get("num_samples", 0) > 0 else None


def federated(evals: dict[str, dict[str, float]]) -> dict[str, float]:
    """The edges' evaluations averaged by their sample counts: fed_val_<metric>."""
    total = sum(e["num_samples"] for e in evals.values())
    if not total:
        return {}
    names = set.intersection(*(set(e) for e in evals.values())) - {"num_samples"}
    out = {
        f"fed_val_{n}": sum(e[n] * e["num_samples"] for e in evals.values()) / total
        for n in sorted(names)
    }
    out["fed_val_samples"] = float(total)
    return out


def summary(values: dict[str, float]) -> str:
    shown = [k for k in ("test_accuracy", "test_loss", "fed_val_accuracy") if k in values]
    return ", ".join(f"{k.replace('_', ' ')} {values[k]:.4f}" for k in shown) or "no evaluation"
