"""Robust aggregation for the FedAvg family: what the server folds a round's updates into
when one update may be hostile or broken. `algorithm.aggregation` picks the rule:

- `mean`: the sample-weighted mean, folded as updates arrive (`RunningMean`);
- `median`: the coordinate-wise median (Yin et al. 2018);
- `trimmed_mean`: per coordinate, the `trim_fraction` largest and smallest values dropped,
  the rest averaged (Yin et al. 2018);
- `krum` / `multi_krum`: the update (or the mean of the n - f updates) closest to its
  n - f - 2 nearest neighbours, f = `byzantine` (Blanchard et al. 2017).

The robust rules hold every update of the round (n models in memory, where the mean holds
two) and weigh clients equally, as their papers do. `bound_update` applies
`algorithm.norm_bound` to one update before any rule sees it.
"""

from __future__ import annotations

import math

import numpy as np

from app.core.algorithms.running_mean import RunningMean, Weights

RULES = ("mean", "median", "trimmed_mean", "krum", "multi_krum")


def aggregator_for(spec) -> RunningMean | HeldUpdates:
    """What a round's updates go into, for a config's [algorithm] table."""
    if spec.aggregation == "mean":
        return RunningMean()
    return HeldUpdates(spec.aggregation, spec.trim_fraction, spec.byzantine)


def krum_needs(byzantine: int) -> int:
    """Krum's least number of updates for `byzantine` hostile ones: n > 2f + 2."""
    return 2 * byzantine + 3


class HeldUpdates:
    """A round's updates, held until the round closes, then combined by a robust rule.
    Same calls as RunningMean; `left_out` names the nodes Krum did not choose."""

    def __init__(self, rule: str, trim_fraction: float = 0.1, byzantine: int = 1) -> None:
        if rule not in RULES[1:]:
            raise ValueError(f"unknown robust aggregation {rule!r}")
        self.rule, self.trim_fraction, self.byzantine = rule, trim_fraction, byzantine
        self.start()

    def start(self) -> None:
        self.nodes: list[str] = []
        self.total = 0
        self.left_out: list[str] = []
        self._updates: list[Weights] = []

    def add(self, node: str, weights: Weights, num_samples: int, owned: bool = False) -> None:
        if num_samples <= 0:
            raise ValueError(f"{node}: an update needs a positive number of samples")
        self.nodes.append(node)
        self.total += num_samples
        self._updates.append(weights)

    def mean(self) -> Weights:
        """The round's combined model (named `mean` as RunningMean's, for the server)."""
        n = len(self._updates)
        if n == 0:
            raise ValueError("no samples behind the updates")
        if self.rule in ("krum", "multi_krum"):
            return self._krum()
        names = self._updates[0].keys()
        out: Weights = {}
        for name in names:
            stacked = np.stack([u[name] for u in self._updates]).astype(np.float64)
            if self.rule == "median":
                combined = np.median(stacked, axis=0)
            else:
                cut = math.floor(self.trim_fraction * n)
                if n - 2 * cut < 1:
                    raise ValueError(f"trimmed mean: {n} updates leave none after trimming")
                ordered = np.sort(stacked, axis=0)
                combined = ordered[cut : n - cut].mean(axis=0)
            out[name] = _as(combined, self._updates[0][name].dtype)
        return out

    def _krum(self) -> Weights:
        n, f = len(self._updates), self.byzantine
        if n < krum_needs(f):
            raise ValueError(
                f"{self.rule} with byzantine = {f} needs at least {krum_needs(f)} updates; "
                f"the round has {n}"
            )
        flat = np.stack([_flatten(u) for u in self._updates])
        squared = (flat**2).sum(axis=1)
        distances = np.maximum(squared[:, None] + squared[None, :] - 2 * flat @ flat.T, 0.0)
        closest = n - f - 2
        scores = np.sort(distances, axis=1)[:, 1 : closest + 1].sum(axis=1)
        chosen = sorted(np.argsort(scores, kind="stable")[: 1 if self.rule == "krum" else n - f])
        self.left_out = [node for i, node in enumerate(self.nodes) if i not in chosen]
        return {
            name: _as(np.mean([self._updates[i][name] for i in chosen], axis=0), w.dtype)
            for name, w in self._updates[0].items()
        }


def bound_update(weights: Weights, reference: Weights, bound: float) -> tuple[Weights, float]:
    """The update with its change from `reference` scaled down to L2 norm `bound` (float
    tensors; others as sent), and the change's norm before."""
    floats = [k for k, w in weights.items() if np.issubdtype(w.dtype, np.floating)]
    norm = math.sqrt(
        sum(float(((weights[k] - reference[k]).astype(np.float64) ** 2).sum()) for k in floats)
    )
    if norm <= bound:
        return weights, norm
    scale = bound / norm
    out = dict(weights)
    for k in floats:
        change = (weights[k].astype(np.float64) - reference[k]) * scale
        out[k] = (reference[k] + change).astype(weights[k].dtype)
    return out, norm


def _flatten(weights: Weights) -> np.ndarray:
    return np.concatenate([w.astype(np.float64).reshape(-1) for w in weights.values()])


def _as(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        values = np.rint(values)
    return np.asarray(values).astype(dtype)
