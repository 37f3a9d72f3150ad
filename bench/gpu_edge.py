"""Edges training on a GPU: the demo run (real `feddeck edge` processes on an embedded
hub) with `training.device = "cuda"`, beside the same run on the CPU in the same
invocation. For each: where the edges said they trained, the final accuracy, the time a
steady round takes, and the NVML load the edges reported with their system samples.
Without CUDA only the CPU row is measured, and the table says so.

    python -m bench.gpu_edge [--rounds 10] [--edges 2] [--backend grpc] [--json]

Exits 1 when CUDA is there but an edge did not train on it or reported no GPU load.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from app.config import Settings
from app.services import Services
from app.services.runs.demo import DemoOptions, run_demo
from app.services.security.auth import SYSTEM
from bench.round_overhead import steady_round_seconds


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_run(device: str, root: Path, edges: int = 2, rounds: int = 10, backend: str = "grpc"):
    """One demo run on `device`; what the database holds about it afterwards."""
    settings = Settings.load(data_dir=root / f"deck-{device}")
    options = DemoOptions(
        edges=edges, rounds=rounds, backend=backend, heartbeat_s=0.25, device=device
    )
    summary = run_demo(settings, options)
    services = Services.open(settings)
    try:
        job_id = summary["job_id"]
        joined = services.run_data.logs(SYSTEM, job_id, contains="joined run")
        samples = services.run_data.samples(SYSTEM, job_id)
        with_gpu = [s for s in samples if s.gpu is not None]
        return {
            "device": device,
            "backend": backend,
            "status": summary["status"],
            "reason": summary["reason"],
            "rounds": summary["rounds"],
            "accuracy": summary["final_test_accuracy"],
            "whole_s": summary["wall_seconds"],
            "steady_round_s": steady_round_seconds(services, job_id),
            # "... samples, on cuda:0": what each edge said when it joined the run
            "trained_on": {r.node: r.text.rsplit(" on ", 1)[-1].split(";")[0] for r in joined},
            "samples": len(samples),
            "samples_with_gpu": len(with_gpu),
            "max_gpu_pct": max((s.gpu for s in with_gpu), default=None),
            "max_gpu_mem_pct": max(
                (s.gpu_mem for s in with_gpu if s.gpu_mem is not None), default=None
            ),
        }
    finally:
        services.close()


def problems(row: dict, edges: int) -> list[str]:
    """What is wrong with a CUDA row: the run, where the edges trained, the load reported."""
    out = []
    if row["status"] != "FINISHED":
        out.append(f"the run {row['status']}: {row['reason']}")
    on = row["trained_on"]
    if len(on) != edges or any(not d.startswith("cuda") for d in on.values()):
        out.append(f"the edges trained on {on}, not all on CUDA")
    if not row["samples_with_gpu"]:
        out.append("no system sample carried a GPU load (NVML)")
    elif not row["max_gpu_mem_pct"]:
        out.append("NVML reported no GPU memory in use while the edges trained")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--edges", type=int, default=2)
    parser.add_argument("--backend", choices=["mqtt", "grpc"], default="grpc")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    gpus = cuda_devices()
    rows = []
    with tempfile.TemporaryDirectory(prefix="feddeck-gpu-") as tmp:
        for device in ["cpu"] + (["cuda"] if gpus else []):
            rows.append(gpu_run(device, Path(tmp), args.edges, args.rounds, args.backend))
    wrong = [p for row in rows if row["device"] == "cuda" for p in problems(row, args.edges)]
    if args.json:
        print(json.dumps({"cuda_devices": gpus, "rows": rows, "problems": wrong}, indent=2))
    else:
        print(f"edges training on a GPU: {args.edges} edges, {args.rounds} rounds, {args.backend}")
        print(f"CUDA devices here: {gpus}" + ("" if gpus else " (only the CPU row is measured)"))
        head = ("device", "status", "acc", "whole s", "round s", "trained on", "GPU samples")
        print("| " + " | ".join(head) + " | max GPU % | max GPU mem % |")
        print("|" + " --- |" * (len(head) + 2))
        for r in rows:
            cells = [
                r["device"],
                r["status"],
                f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-",
                f"{r['whole_s']:.1f}",
                f"{r['steady_round_s']:.3f}" if r["steady_round_s"] else "-",
                ", ".join(sorted(set(r["trained_on"].values()))),
                f"{r['samples_with_gpu']}/{r['samples']}",
                "-" if r["max_gpu_pct"] is None else f"{r['max_gpu_pct']:.0f}",
                "-" if r["max_gpu_mem_pct"] is None else f"{r['max_gpu_mem_pct']:.2f}",
            ]
            print("| " + " | ".join(cells) + " |")
        for p in wrong:
            print(f"problem: {p}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
