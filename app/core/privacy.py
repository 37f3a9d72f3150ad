"""Differential privacy for the FedAvg family, DP-FedAvg with the noise added on each edge:
an edge clips its update's change from the global model to L2 norm `clip_norm` and adds
Gaussian noise of standard deviation `noise_multiplier · clip_norm` to every coordinate
before the update leaves it, so what any edge releases is a Gaussian mechanism on its own
data. The server accounts the privacy spent by each edge's released updates with Opacus's
RDP accountant: the subsampled Gaussian mechanism, one step per round at that round's
sample rate (the share of edges selected), epsilon at `privacy.delta`.
"""

from __future__ import annotations

import math

import numpy as np

Weights = dict[str, np.ndarray]


def privatize(
    update: Weights, reference: Weights, clip_norm: float, noise_multiplier: float, seed: int
) -> tuple[Weights, float]:
    """The update with its change from `reference` clipped and noised (float tensors;
    others as trained), and the change's norm before clipping."""
    floats = [k for k, w in update.items() if np.issubdtype(w.dtype, np.floating)]
    changes = {k: update[k].astype(np.float64) - reference[k] for k in floats}
    norm = math.sqrt(sum(float((c**2).sum()) for c in changes.values()))
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    rng = np.random.default_rng(seed)
    sigma = noise_multiplier * clip_norm
    out = dict(update)
    for k, change in changes.items():
        noisy = change * scale + rng.normal(0.0, sigma, change.shape)
        out[k] = (reference[k] + noisy).astype(update[k].dtype)
    return out, norm


class PrivacyLedger:
    """The privacy spent so far by each edge's released updates."""

    def __init__(self, noise_multiplier: float, delta: float, rounds_done: int = 0) -> None:
        try:  # only runs with privacy on load it
            from opacus.accountants import RDPAccountant
        except ImportError:
            raise RuntimeError(
                "differential privacy needs Opacus's accountant on the server: "
                "pip install 'feddeck[center]'"
            ) from None

        self.noise_multiplier, self.delta = noise_multiplier, delta
        self._accountant = RDPAccountant()
        for _ in range(rounds_done):  # a resumed run's rounds, counted at rate 1: a bound
            self._accountant.step(noise_multiplier=noise_multiplier, sample_rate=1.0)

    def round_done(self, sample_rate: float) -> float:
        """One more round at `sample_rate`; epsilon at delta so far."""
        self._accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=sample_rate)
        return float(self._accountant.get_epsilon(delta=self.delta))
