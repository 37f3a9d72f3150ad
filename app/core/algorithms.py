"""Server-side aggregation strategies over named numpy weights.

Each strategy has one extension point, `step(global, updates) -> new global`. FedProx's
difference is on the client (the proximal term), so on the server it is FedAvg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.fl_config import AlgorithmSpec

Weights = dict[str, np.ndarray]


@dataclass(frozen=True)
class ClientUpdate:
    node: str
    weights: Weights
    num_samples: int


def is_finite(weights: Weights) -> bool:
    return all(
        np.isfinite(w).all() for w in weights.values() if np.issubdtype(w.dtype, np.floating)
    )


def weighted_average(updates: list[ClientUpdate]) -> Weights:
    total = sum(u.num_samples for u in updates)
    if total <= 0:
        raise ValueError("no samples behind the updates")
    names = updates[0].weights.keys()
    out: Weights = {}
    for name in names:
        acc = sum(u.weights[name].astype(np.float64) * (u.num_samples / total) for u in updates)
        out[name] = np.asarray(acc).astype(updates[0].weights[name].dtype)
    return out


class FedAvg:
    """McMahan et al. 2017: the sample-weighted mean of client models."""

    def __init__(self, spec: AlgorithmSpec) -> None:
        self.spec = spec

    @property
    def client_prox_mu(self) -> float:
        return 0.0

    def step(self, global_weights: Weights, updates: list[ClientUpdate]) -> Weights:
        return weighted_average(updates)

    def state(self) -> Weights:
        """Server optimiser state to checkpoint with the model (none for plain FedAvg)."""
        return {}

    def load_state(self, state: Weights) -> None:
        pass


class FedProx(FedAvg):
    @property
    def client_prox_mu(self) -> float:
        return self.spec.mu


class _ServerOptimizer(FedAvg):
    """Treat (mean client model - global) as a pseudo-gradient for a server optimiser."""

    def __init__(self, spec: AlgorithmSpec) -> None:
        super().__init__(spec)
        self._m: Weights = {}
        self._v: Weights = {}

    def step(self, global_weights: Weights, updates: list[ClientUpdate]) -> Weights:
        mean = weighted_average(updates)
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

    def state(self) -> Weights:
        return {
            **{f"m.{k}": v for k, v in self._m.items()},
            **{f"v.{k}": v for k, v in self._v.items()},
        }

    def load_state(self, state: Weights) -> None:
        self._m = {k[2:]: v for k, v in state.items() if k.startswith("m.")}
        self._v = {k[2:]: v for k, v in state.items() if k.startswith("v.")}


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


STRATEGIES = {
    "fedavg": FedAvg,
    "fedprox": FedProx,
    "fedavgm": FedAvgM,
    "fedadam": FedAdam,
    "fedyogi": FedYogi,
    "fedadagrad": FedAdagrad,
}


def build_strategy(spec: AlgorithmSpec) -> FedAvg:
    if spec.name == "centralized":
        raise ValueError("'centralized' is a baseline run, not a federated strategy")
    return STRATEGIES[spec.name](spec)


def sample_clients(
    available: list[str], fraction: float, minimum: int, rng: np.random.Generator
) -> list[str]:
    """Pick max(minimum, ceil(fraction * n)) clients (all of them if fewer are available)."""
    want = max(minimum, int(np.ceil(fraction * len(available))))
    if want >= len(available):
        return sorted(available)
    return sorted(rng.choice(sorted(available), size=want, replace=False).tolist())
