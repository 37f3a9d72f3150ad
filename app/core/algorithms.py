"""Server-side aggregation strategies over named numpy weights.

Each strategy has one extension point, `apply(global, mean) -> new global`, given the
clients' sample-weighted mean (`RunningMean` folds it as updates arrive); `step(global,
updates)` does both at once. FedProx's difference is on the client (the proximal term), so
on the server it is FedAvg; FedOpt works on the mean's delta from the global model.
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


class RunningMean:
    """The sample-weighted mean of client models, folded in one update at a time as each
    arrives: the server holds a float64 sum and the update in hand, not one model per
    client. Large tensors are folded in slices, so no temporary is bigger than one.

    One instance serves every round (`start`): the sum's memory is kept, so a round folds
    into pages that are already mapped, and the mean is written into the last update given
    as `owned` (its memory is the caller's to give), so no round faults in fresh pages.
    """

    SLICE = 1 << 18  # elements: 2 MiB of float64 scratch, which stays in cache

    def __init__(self) -> None:
        self._sum: Weights = {}
        self._dtypes: dict[str, np.dtype] = {}
        self._scratch = np.empty(0)
        self._donor: Weights | None = None
        self.total = 0
        self.nodes: list[str] = []

    def start(self) -> None:
        """A new round: forget the updates, keep the sum's memory."""
        self.total, self.nodes, self._donor = 0, [], None

    def add(self, node: str, weights: Weights, num_samples: int, owned: bool = False) -> None:
        """`owned`: the caller lets go of `weights`; the mean may be written into them."""
        if num_samples <= 0:
            raise ValueError(f"{node}: an update needs a positive number of samples")
        first = not self.nodes
        if first and not self._fits(weights):
            self._sum = {k: np.empty(w.shape, np.float64) for k, w in weights.items()}
            self._dtypes = {k: w.dtype for k, w in weights.items()}
            self._scratch = np.empty(min(self.SLICE, max(w.size for w in weights.values())))
        for name, w in weights.items():
            acc, flat = self._sum[name].reshape(-1), np.ascontiguousarray(w).reshape(-1)
            for start in range(0, flat.size, self.SLICE):
                part, into = flat[start : start + self.SLICE], acc[start : start + self.SLICE]
                if first:  # the sum starts as the first update: nothing to zero first
                    np.multiply(part, float(num_samples), out=into, dtype=np.float64)
                    continue
                tmp = self._scratch[: part.size]
                np.multiply(part, float(num_samples), out=tmp, dtype=np.float64)
                into += tmp
        self.total += num_samples
        self.nodes.append(node)
        self._donor = weights if owned else None

    def mean(self) -> Weights:
        if self.total <= 0:
            raise ValueError("no samples behind the updates")
        out: Weights = {}
        donor = self._donor if self._donor is not None and self._fits(self._donor) else {}
        for name, acc in self._sum.items():
            target = donor.get(name)
            if target is None or not target.flags.writeable or not target.flags.c_contiguous:
                target = np.empty(acc.shape, self._dtypes[name])
            # float64 divided and rounded to the model's dtype in one pass
            out[name] = np.divide(acc, self.total, out=target, casting="unsafe")
        self._donor = None
        return out

    def _fits(self, weights: Weights) -> bool:
        return weights.keys() == self._sum.keys() and all(
            w.shape == self._sum[k].shape and w.dtype == self._dtypes[k] for k, w in weights.items()
        )


def weighted_average(updates: list[ClientUpdate]) -> Weights:
    running = RunningMean()
    for u in updates:
        running.add(u.node, u.weights, u.num_samples)
    return running.mean()


class FedAvg:
    """McMahan et al. 2017: the sample-weighted mean of client models."""

    def __init__(self, spec: AlgorithmSpec) -> None:
        self.spec = spec

    @property
    def client_prox_mu(self) -> float:
        return 0.0

    def step(self, global_weights: Weights, updates: list[ClientUpdate]) -> Weights:
        return self.apply(global_weights, weighted_average(updates))

    def apply(self, global_weights: Weights, mean: Weights) -> Weights:
        """The next global model from the clients' weighted mean (the extension point)."""
        return mean

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
