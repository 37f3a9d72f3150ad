"""FedOpt (Reddi et al. 2021) and FedAvgM (Hsu et al. 2019): the clients' mean minus the
global model is a pseudo-gradient for an optimiser on the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from app.core.algorithms.fedavg import FedAvg
from app.core.algorithms.registry import Algorithm, register

if TYPE_CHECKING:
    from app.core.algorithms.running_mean import Weights


class _ServerOptimizer(FedAvg):
    """Treat (mean client model - global) as a pseudo-gradient for a server optimiser."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self._m: Weights = {}
        self._v: Weights = {}

    def apply(self, global_weights: Weights, mean: Weights) -> Weights:
        out: Weights = {}
        for name, g in global_weights.items():
            if not np.issubdtype(g.dtype, np.floating):
                out[name] = mean[name]
                continue
            delta = mean[name].astype(np.float64) - g
            out[name] = (g + self._update(name, delta)).astype(g.dtype)
        return out

    def _update(self, name: str, delta: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class FedAvgM(_ServerOptimizer):
    """Hsu et al. 2019: server momentum on the averaged update."""

    def _update(self, name: str, delta: np.ndarray) -> np.ndarray:
        m = self.spec.server_momentum * self._m.get(name, 0.0) + delta
        self._m[name] = m
        return self.spec.server_lr * m


class _Adaptive(_ServerOptimizer):
    """Reddi et al. 2021 (FedOpt): Adam / Yogi / Adagrad on the server."""

    def _second_moment(self, v: np.ndarray, d2: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _update(self, name: str, delta: np.ndarray) -> np.ndarray:
        s = self.spec
        m = s.beta1 * self._m.get(name, np.zeros_like(delta)) + (1 - s.beta1) * delta
        v = self._second_moment(self._v.get(name, np.full_like(delta, s.tau**2)), delta**2)
        self._m[name], self._v[name] = m, v
        return s.server_lr * m / (np.sqrt(v) + s.tau)


class FedAdam(_Adaptive):
    def _second_moment(self, v, d2):
        return self.spec.beta2 * v + (1 - self.spec.beta2) * d2


class FedYogi(_Adaptive):
    def _second_moment(self, v, d2):
        return v - (1 - self.spec.beta2) * d2 * np.sign(v - d2)


class FedAdagrad(_Adaptive):
    def _second_moment(self, v, d2):
        return v + d2


ADAPTIVE = ("server_lr", "beta1", "beta2", "tau")
register(
    Algorithm(
        "fedavgm",
        "FedAvgM (Hsu et al. 2019)",
        "server momentum on the averaged update",
        ("server_lr", "server_momentum"),
        FedAvgM,
    )
)
register(
    Algorithm("fedadam", "FedAdam (Reddi et al. 2021)", "Adam on the server", ADAPTIVE, FedAdam)
)
register(
    Algorithm("fedyogi", "FedYogi (Reddi et al. 2021)", "Yogi on the server", ADAPTIVE, FedYogi)
)
register(
    Algorithm(
        "fedadagrad",
        "FedAdagrad (Reddi et al. 2021)",
        "Adagrad on the server",
        ADAPTIVE,
        FedAdagrad,
    )
)
