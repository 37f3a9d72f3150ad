"""Every algorithm by name: the config schema, the config dialog, the CLI (`feddeck config
algorithms`) and docs/algorithms.md read this one list.

An algorithm is one module in this package that calls `register` when imported; the
package imports them all, so adding one is that module and its tests. Its `role` says
which protocol runs it: "server" (a run's server sends the model, the edges train it, the
server's strategy turns their mean into the next model: core/run) or "peer" (no server:
each edge trains, sends its model to its out-neighbours in the run's trust graph and mixes
what it receives by the algorithm's rule: core/peer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.core.algorithms.running_mean import Weights


class Strategy(Protocol):
    """The server's side of an algorithm of the FedAvg family."""

    @property
    def client_prox_mu(self) -> float:
        """The proximal weight the clients add to their loss (0: none)."""

    def apply(self, global_weights: Weights, mean: Weights) -> Weights:
        """The next global model from the clients' sample-weighted mean."""


@dataclass(frozen=True)
class Algorithm:
    name: str  # as written in a config's [algorithm] name
    title: str  # as a person names it, with its paper
    summary: str  # one line: what it does differently
    fields: tuple[str, ...]  # the [algorithm] settings it reads besides the name
    build: type  # AlgorithmSpec -> Strategy ("server"), or -> Mixing ("peer")
    role: str = "server"  # the protocol that runs it: core/protocols.PROTOCOLS
    tables: tuple[str, ...] = ()  # other config tables it reads, e.g. "decentralized"


SERVER, PEER = "server", "peer"


ALGORITHMS: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"two algorithms are named {algorithm.name!r}")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def build_strategy(spec) -> Strategy:
    """The server's strategy for a config's [algorithm] table (fl_config.AlgorithmSpec)."""
    return ALGORITHMS[spec.name].build(spec)


def is_peer(name: str) -> bool:
    """Whether the algorithm runs server-free, edge to edge."""
    return ALGORITHMS[name].role == PEER
