"""Split a training set among clients: IID, Dirichlet label skew, or shards by label.

Every partitioner is a pure function of (labels, number of clients, spec): the same seed
gives every node the same split, so an edge can compute its own share locally.
"""

from __future__ import annotations

import numpy as np

from app.core.fl_config import PartitionSpec


def iid(labels: np.ndarray, clients: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(labels))
    return [np.sort(part) for part in np.array_split(order, clients)]


def dirichlet(labels: np.ndarray, clients: int, alpha: float, seed: int) -> list[np.ndarray]:
    """Per class, proportions drawn from Dir(alpha); small alpha = strong skew.

    Every client is guaranteed at least one sample, redrawing as needed, so that nobody
    joins a round with nothing to train on.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(100):
        parts: list[list[int]] = [[] for _ in range(clients)]
        for cls in classes:
            idx = rng.permutation(np.flatnonzero(labels == cls))
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for client, chunk in enumerate(np.split(idx, cuts)):
                parts[client].extend(chunk.tolist())
        if all(parts):
            return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
    raise ValueError(
        f"Dirichlet alpha={alpha} leaves a client empty; use more data or a larger alpha"
    )


def shards(labels: np.ndarray, clients: int, per_client: int, seed: int) -> list[np.ndarray]:
    """Sort by label, cut into clients * per_client shards, deal them out at random."""
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    pieces = np.array_split(order, clients * per_client)
    deal = rng.permutation(len(pieces))
    return [
        np.sort(np.concatenate([pieces[j] for j in deal[c * per_client : (c + 1) * per_client]]))
        for c in range(clients)
    ]


def partition(labels: np.ndarray, clients: int, spec: PartitionSpec) -> list[np.ndarray]:
    if clients < 1:
        raise ValueError("at least one client is needed")
    if clients > len(labels):
        raise ValueError(f"{clients} clients but only {len(labels)} training samples")
    if spec.kind == "iid":
        return iid(labels, clients, spec.seed)
    if spec.kind == "dirichlet":
        return dirichlet(labels, clients, spec.alpha, spec.seed)
    return shards(labels, clients, spec.shards_per_client, spec.seed)
