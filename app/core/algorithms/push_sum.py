"""Server-free algorithms: each edge trains, sends its model to its out-neighbours in the
run's trust graph, and mixes what it receives (app/core/peer runs them).

A rule makes, each round, a node's share of its model before and after its local training
(`share`), and the node's next model from the shares it received, its own among them
(`mix`): these two functions and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.core.algorithms.registry import PEER, Algorithm, register

if TYPE_CHECKING:
    from app.core.algorithms.running_mean import Weights


@dataclass
class Share:
    """What one node sends one out-neighbour (or keeps) in a round: its model scaled by
    `weight` (push-sum's numerator) and that weight."""

    scaled: Weights
    weight: float


class PushSum:
    """Push-sum SGD over a directed graph (Kempe et al. 2003; Nedić & Olshevsky 2016;
    Assran et al. 2019; He et al. 2019 for FL over a one-sided trust graph). A node holds
    a numerator w·x and a weight w (at first n̄, the run's mean sample count, on every
    node); its local training moves
    the numerator by `step` times the change it made, step·(x' - x), where the node takes
    step = w·n/n̄ (n: its own sample count), so an update counts as its samples do
    in FedAvg's mean; it sends (numerator, w) / (d + 1) to each of its d out-neighbours
    and keeps one such share. Mixing sums numerators and weights, and the node's model is
    their ratio. On any strongly connected graph the nodes tend to agree, though no node
    sends to more than its out-neighbours and the mixing is only column-stochastic; on a
    complete graph they hold FedAvg's aggregate, round by round."""

    def __init__(self, spec=None) -> None:
        self.spec = spec

    def share(
        self, start: Weights, trained: Weights, weight: float, step: float, out_degree: int
    ) -> Share:
        part = 1.0 / (out_degree + 1)
        numerator = {
            k: (weight * start[k].astype(np.float64)
                + step * (v.astype(np.float64) - start[k].astype(np.float64))) * part
            for k, v in trained.items()
        }  # fmt: skip
        return Share(numerator, weight * part)

    def mix(self, shares: list[Share]) -> tuple[Weights, float]:
        weight = sum(s.weight for s in shares)
        if not weight > 0:
            raise ValueError("push-sum: the weights received sum to zero")
        total = _sum(shares)
        return {k: v / weight for k, v in total.items()}, weight


class DSGD(PushSum):
    """Decentralized SGD (Lian et al. 2017) with uniform row-stochastic mixing: a node
    averages its own model with those of its in-neighbours, each counting once. On a
    directed graph whose nodes have unequal in-degrees the nodes agree on a mean biased
    towards the well-received ones, which push-sum's weights correct: the baseline."""

    def share(
        self, start: Weights, trained: Weights, weight: float, step: float, out_degree: int
    ) -> Share:
        return Share({k: v.astype(np.float64) for k, v in trained.items()}, 1.0)

    def mix(self, shares: list[Share]) -> tuple[Weights, float]:
        total = _sum(shares)
        return {k: v / len(shares) for k, v in total.items()}, 1.0


def _sum(shares: list[Share]) -> Weights:
    if not shares:
        raise ValueError("nothing to mix")
    first = shares[0].scaled
    total = {k: v.astype(np.float64, copy=True) for k, v in first.items()}
    for s in shares[1:]:
        if s.scaled.keys() != total.keys():
            raise ValueError("a neighbour's model has other tensors than this node's")
        for k, v in s.scaled.items():
            if v.shape != total[k].shape:
                raise ValueError(f"a neighbour's tensor {k} is {v.shape}, not {total[k].shape}")
            total[k] += v
    return total


register(
    Algorithm(
        "pushsum",
        "Push-sum SGD (Nedić & Olshevsky 2016; He et al. 2019)",
        "no server: each edge pushes its weighted model to its out-neighbours in a trust graph",
        (),
        PushSum,
        role=PEER,
        tables=("decentralized",),
    )
)
register(
    Algorithm(
        "dsgd",
        "DSGD (Lian et al. 2017)",
        "no server: each edge averages its model with its in-neighbours' (the baseline)",
        (),
        DSGD,
        role=PEER,
        tables=("decentralized",),
    )
)
