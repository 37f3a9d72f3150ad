"""The clients' sample-weighted mean, folded as updates arrive: what every strategy of the
FedAvg family starts from."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

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
    """The sample-weighted mean of client models, folded in as updates arrive: the server
    holds a float64 sum and at most two updates, not one model per client.

    A float64 sum is memory-bound, so a fold is laid out to move as few bytes as it can:
    - tensors go in slices whose temporaries stay in cache, the slices shared among the
      cores (numpy lets go of the GIL in its loops);
    - an update the caller lets go of (`owned`) waits for the next one and the two are
      folded in one pass, so the sum is read and written once per two updates;
    - one instance serves every round (`start`): the sum's pages stay mapped, and the
      mean is written into the last owned update, so no round faults in fresh pages.
    """

    SLICE = 1 << 18  # elements: 2 MiB of float64 scratch, which stays in cache
    WORKERS = max(1, min(4, os.cpu_count() or 1))
    THREADED_FROM = 8  # slices: below that a fold is too short to share out

    def __init__(self) -> None:
        self._sum: Weights = {}
        self._dtypes: dict[str, np.dtype] = {}
        self._scratch: list[tuple[np.ndarray, np.ndarray]] = []
        self._seeded = False  # the sum holds some of this round's updates
        self._pending: tuple[Weights, float] | None = None
        self._donor: Weights | None = None
        self.total = 0
        self.nodes: list[str] = []

    def start(self) -> None:
        """A new round: forget the updates, keep the sum's memory."""
        self.total, self.nodes = 0, []
        self._seeded, self._pending, self._donor = False, None, None

    def add(self, node: str, weights: Weights, num_samples: int, owned: bool = False) -> None:
        """`owned`: the caller lets go of `weights`; the mean may be written into them."""
        if num_samples <= 0:
            raise ValueError(f"{node}: an update needs a positive number of samples")
        self.total += num_samples
        self.nodes.append(node)
        parts = [(weights, float(num_samples))]
        if self._pending is not None:
            parts.insert(0, self._pending)
            self._pending = None
        elif owned:  # folded with the next update, or by mean()
            self._pending, self._donor = parts[0], None
            return
        self._fold(parts)
        self._donor = weights if owned else None

    def mean(self) -> Weights:
        if self.total <= 0:
            raise ValueError("no samples behind the updates")
        pending = [self._pending] if self._pending is not None else []
        layout = self._sum_layout() if self._seeded else _layout(pending[0][0])
        donor = pending[0][0] if pending else self._donor
        if donor is None or _layout(donor) != layout:
            donor = {}
        out: Weights = {}
        for name, (shape, dtype) in layout.items():
            target = donor.get(name)
            if target is None or not target.flags.writeable or not target.flags.c_contiguous:
                target = np.empty(shape, dtype)
            out[name] = target
        flats = {name: [(_flat(w[name]), n) for w, n in pending] for name in layout}

        def divide(name: str, start: int, end: int, scratch) -> None:
            acc = self._sum[name].reshape(-1) if self._seeded else None
            if flats[name]:
                total = _scratch_sum(scratch, flats[name], start, end, acc)
            else:
                total = acc[start:end]
            # float64 divided and rounded to the model's dtype in one pass
            np.divide(total, self.total, out=out[name].reshape(-1)[start:end], casting="unsafe")

        self._each_slice({k: out[k].size for k in layout}, divide)
        self._pending = self._donor = None
        return out

    def _fold(self, parts: list[tuple[Weights, float]]) -> None:
        """sum (+)= the sum of n·w over `parts`."""
        first = parts[0][0]
        if not self._seeded and _layout(first) != self._sum_layout():
            self._sum = {k: np.empty(w.shape, np.float64) for k, w in first.items()}
            self._dtypes = {k: w.dtype for k, w in first.items()}
        seed = not self._seeded
        flats = {name: [(_flat(w[name]), n) for w, n in parts] for name in self._sum}

        def fold(name: str, start: int, end: int, scratch) -> None:
            acc = self._sum[name].reshape(-1)
            if seed and len(parts) == 1:  # the sum starts as this update
                flat, n = flats[name][0]
                np.multiply(flat[start:end], n, out=acc[start:end], dtype=np.float64)
                return
            total = _scratch_sum(scratch, flats[name], start, end)
            if seed:
                np.copyto(acc[start:end], total)
            else:
                np.add(acc[start:end], total, out=acc[start:end])

        self._each_slice({k: acc.size for k, acc in self._sum.items()}, fold)
        self._seeded = True

    def _each_slice(self, sizes: dict[str, int], job) -> None:
        """job(name, start, end, scratch) for every slice of every tensor, on the cores."""
        slices = [
            (name, start, min(start + self.SLICE, size))
            for name, size in sizes.items()
            for start in range(0, size, self.SLICE)
        ]
        workers = self.WORKERS if len(slices) >= self.THREADED_FROM else 1
        width = min(self.SLICE, max(sizes.values(), default=0))
        if len(self._scratch) < workers or self._scratch[0][0].size < width:
            self._scratch = [(np.empty(width), np.empty(width)) for _ in range(workers)]

        def run(share, scratch) -> None:
            for name, start, end in share:
                job(name, start, end, scratch)

        if workers == 1:
            run(slices, self._scratch[0])
            return
        shares = [_pool().submit(run, slices[i::workers], self._scratch[i]) for i in range(workers)]
        for share in shares:
            share.result()

    def _sum_layout(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {k: (acc.shape, self._dtypes[k]) for k, acc in self._sum.items()}


def _scratch_sum(scratch, flats, start: int, end: int, acc: np.ndarray | None = None):
    """The sum of n·w[start:end] over `flats` (+ acc[start:end]), in scratch memory."""
    total, product = (s[: end - start] for s in scratch)
    for i, (flat, n) in enumerate(flats):
        np.multiply(flat[start:end], n, out=product if i else total, dtype=np.float64)
        if i:
            total += product
    if acc is not None:
        total += acc[start:end]
    return total


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(RunningMean.WORKERS, thread_name_prefix="running-mean")


def _layout(weights: Weights) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    return {k: (w.shape, w.dtype) for k, w in weights.items()}


def _flat(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w).reshape(-1)
