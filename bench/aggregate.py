"""Aggregation speed and memory: 10 client updates of 100 MB each folded into their
sample-weighted mean as they arrive (`RunningMean`, what the FL server does: the first
round, which maps the sum's pages, then three steady rounds, their best and median),
beside the same updates all held and averaged at once (how it was done before), and a
numpy copy of the same bytes (the memory bandwidth ceiling), measured in the same run.
Memory is the peak traced by tracemalloc over the model held at the start.

    python -m bench.aggregate [--clients 10] [--mb 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np

from app.core.algorithms.running_mean import ClientUpdate, RunningMean

LAYERS = 4  # a model of four equal float32 tensors


def _model(mb: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = mb * 2**20 // 4 // LAYERS
    return {f"layer{i}": rng.standard_normal(size, dtype=np.float32) for i in range(LAYERS)}


def _arrivals(clients: int, mb: int):
    """Each update made as it 'arrives' (as the hub hands it over), then let go."""
    for c in range(clients):
        yield f"edge-{c}", _model(mb, c), 100 + c


def _streaming(clients: int, mb: int, rounds: int) -> tuple[list[float], int]:
    """Rounds through one `RunningMean`, as the FL server keeps it: the first maps the
    sum's pages, the others (as every round after) fold into pages already mapped. Each
    update is given to it as the server gives a decoded one (owned: the mean may go in).
    Timed rounds run untraced (tracemalloc would charge every view a slice makes); the
    peak is traced over one more round, in a fresh instance so that its sum counts."""
    busy = []
    for running in [RunningMean()] * rounds + [RunningMean()]:
        traced = len(busy) == rounds
        if traced:
            tracemalloc.start()
        took = 0.0
        running.start()
        for node, weights, n in _arrivals(clients, mb):
            start = time.perf_counter()
            running.add(node, weights, n, owned=True)
            took += time.perf_counter() - start
            del weights
        start = time.perf_counter()
        mean = running.mean()
        busy.append(took + time.perf_counter() - start)
        del mean
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return busy[:-1], peak


def _held(clients: int, mb: int) -> tuple[float, int]:
    tracemalloc.start()
    updates = [ClientUpdate(node, w, n) for node, w, n in _arrivals(clients, mb)]
    start = time.perf_counter()
    total = sum(u.num_samples for u in updates)
    mean = {
        name: np.asarray(
            sum(u.weights[name].astype(np.float64) * (u.num_samples / total) for u in updates)
        ).astype(np.float32)
        for name in updates[0].weights
    }
    busy = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del mean, updates
    return busy, peak


def _memcpy(clients: int, mb: int) -> float:
    source = _model(mb, 99)
    target = {k: np.empty_like(v) for k, v in source.items()}
    for k, v in source.items():  # the pages touched once first, as the others find them
        np.copyto(target[k], v)
    start = time.perf_counter()
    for _ in range(clients):
        for k, v in source.items():
            np.copyto(target[k], v)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = args.mb * 2**20
    data_mb = args.clients * args.mb
    memcpy_s = _memcpy(args.clients, args.mb)
    rows = []
    (first, *steady), peak = _streaming(args.clients, args.mb, rounds=4)
    steady.sort()
    measured = [
        ("streaming, best", (steady[0], peak)),
        ("streaming, med.", (steady[len(steady) // 2], peak)),
        ("streaming, 1st", (first, peak)),
        ("all held", _held(args.clients, args.mb)),
    ]
    for name, (busy, peak) in measured:
        rows.append(
            {
                "method": name,
                "MB/s": data_mb / busy,
                "of memcpy": memcpy_s / busy,
                "peak (models)": peak / model,
            }
        )
    rows.append({"method": "numpy memcpy", "MB/s": data_mb / memcpy_s, "of memcpy": 1.0})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.clients} updates of {args.mb} MB (float32, {LAYERS} tensors)")
    print(f"{'method':<16} {'MB/s':>9} {'of memcpy':>10} {'peak, in models':>16}")
    for r in rows:
        peak = f"{r['peak (models)']:.2f}" if "peak (models)" in r else ""
        print(f"{r['method']:<16} {r['MB/s']:>9.0f} {r['of memcpy']:>10.2f} {peak:>16}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
