"""Storing a model, as the FL server stores every client update and aggregate: the file
safetensors writes, fsynced, and its SHA-256. `save_weights` writes straight from the
arrays and hashes on a second thread as it writes; the way before serialised a copy
first (`safetensors.numpy.save`), then hashed it, then wrote it. The baseline writes and
fsyncs the same number of bytes already in memory (the disk's own speed), in the same
run; reading back (checked) is timed the same ways, beside a plain read of the file.

    python -m bench.store_model [--sizes 100,1000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.core.artifacts import load_weights, save_weights, write_file

MB = 1_000_000


def _model(nbytes: int) -> dict[str, np.ndarray]:
    size = nbytes // 4 // 4
    rng = np.random.default_rng(0)
    return {f"layer{i}": rng.standard_normal(size, dtype=np.float32) for i in range(4)}


def save_before(path: Path, weights: dict[str, np.ndarray]) -> str:
    from safetensors.numpy import save

    data = save(weights, metadata={"node": "edge-1"})
    digest = hashlib.sha256(data).hexdigest()
    write_file(path, [data])
    return digest


def load_before(path: Path, sha256: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    return load(data)


def read_baseline(path: Path, sha256: str) -> np.ndarray:
    """The file read into a fresh buffer, nothing else: the reading side's ceiling."""
    with open(path, "rb", buffering=0) as fh:
        buffer = np.empty(os.fstat(fh.fileno()).st_size, np.uint8)
        fh.readinto(memoryview(buffer))
    return buffer


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def measure(nbytes: int, folder: Path, repeat: int) -> dict[str, float]:
    """Best of `repeat` seconds for each way; every file is removed before the next, so
    the page cache holds about one model at a time."""
    weights = _model(nbytes)
    raw = np.ones(nbytes, np.uint8)
    ways = {
        "write + fsync (baseline)": lambda p: write_file(p, [raw]),
        "save: copy, hash, write (before)": lambda p: save_before(p, weights),
        "save_weights": lambda p: save_weights(p, weights, {"node": "edge-1"}),
    }
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, save in ways.items():
            path = folder / "m.safetensors"
            best[name] = min(best.get(name, float("inf")), _timed(save, path))
            if name == "save_weights":
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
                for label, load in (
                    ("read (baseline)", read_baseline),
                    ("load: read, hash, copy out (before)", load_before),
                    ("load_weights", load_weights),
                ):
                    best[label] = min(best.get(label, float("inf")), _timed(load, path, sha))
            path.unlink()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="model sizes in MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes takes comma-separated whole numbers of MB")
    if args.repeat < 1 or any(s < 1 for s in sizes):
        parser.error("--sizes and --repeat must be at least 1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="feddeck-store-", dir=os.getcwd()) as tmp:
        for size in sizes:
            best = measure(size * MB, Path(tmp), args.repeat)
            for way, seconds in best.items():
                reading = way.startswith(("read", "load"))
                base = best["read (baseline)" if reading else "write + fsync (baseline)"]
                rows.append(
                    {
                        "mb": size,
                        "way": way,
                        "seconds": seconds,
                        "mb_per_s": size / seconds,
                        "vs_baseline": base / seconds,
                    }
                )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| MB | way | seconds | MB/s | of its baseline |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['mb']} | {r['way']} | {r['seconds']:.3f} | {r['mb_per_s']:,.0f} | "
            f"{r['vs_baseline']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
