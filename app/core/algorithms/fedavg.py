"""FedAvg and FedProx: the clients' mean is the next model. FedProx differs on the
client only (the proximal term)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.algorithms.registry import Algorithm, register

if TYPE_CHECKING:
    from app.core.algorithms.running_mean import Weights


class FedAvg:
    """McMahan et al. 2017: the sample-weighted mean of client models."""

    def __init__(self, spec) -> None:
        self.spec = spec  # the config's [algorithm] table (fl_config.AlgorithmSpec)

    @property
    def client_prox_mu(self) -> float:
        return 0.0

    def apply(self, global_weights: Weights, mean: Weights) -> Weights:
        return mean


class FedProx(FedAvg):
    @property
    def client_prox_mu(self) -> float:
        return self.spec.mu


register(
    Algorithm(
        "fedavg",
        "FedAvg (McMahan et al. 2017)",
        "the sample-weighted mean of the clients' models",
        (),
        FedAvg,
    )
)
register(
    Algorithm(
        "fedprox",
        "FedProx (Li et al. 2020)",
        "FedAvg whose clients add (mu/2)·‖w - w_global‖² to their loss",
        ("mu",),
        FedProx,
    )
)
