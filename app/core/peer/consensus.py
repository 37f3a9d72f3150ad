"""How far a server-free run's edges are from agreeing, without anyone holding every model.

Each edge reports a sketch of its model with its round's figures: a fixed random sample of
its coordinates (at most `SAMPLED`), projected onto `DIMS` Gaussian directions, both drawn
from the run's seed so every edge uses the same ones. The control center then estimates
the consensus distance, sqrt(mean_i ||x_i - x̄||²), from the sketches alone: a few hundred
bytes an edge a round, whatever the model's size.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SAMPLED, DIMS = 8192, 64


@lru_cache(maxsize=4)
def _plan(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, size])
    picked = np.sort(rng.choice(size, SAMPLED, replace=False)) if size > SAMPLED else None
    count = SAMPLED if picked is not None else size
    projection = rng.standard_normal((DIMS, count)) / math.sqrt(DIMS)
    return (picked if picked is not None else np.arange(size)), projection


def sketch(weights: dict[str, np.ndarray], seed: int) -> tuple[list[float], int]:
    """The sketch of a model (its tensors in name order) and its size in coordinates."""
    flat = np.concatenate([np.ravel(weights[k]).astype(np.float64) for k in sorted(weights)])
    picked, projection = _plan(flat.size, seed)
    return (projection @ flat[picked]).tolist(), int(flat.size)


def consensus_distance(sketches: list[list[float]], size: int) -> float:
    """sqrt(mean_i ||x_i - x̄||²), estimated from the edges' sketches of one round."""
    rows = np.asarray(sketches, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < 2 or rows.shape[1] != DIMS:
        raise ValueError(f"consensus distance needs at least 2 sketches of {DIMS} figures")
    spread = ((rows - rows.mean(axis=0)) ** 2).sum(axis=1).mean()
    return float(math.sqrt(spread * max(size, 1) / min(size, SAMPLED)))
