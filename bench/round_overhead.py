"""What federation costs in wall time: a FedAvg run with N edges on each backend, beside the
centralized baseline (same data, model and epochs) run in this process.

    python -m bench.round_overhead [--edges 4] [--rounds 20] [--backends local,mqtt,grpc] [--json]

The FL wall time counts from launch to the run's end (edges are connected before the clock
starts; the server process start and the edges' first torch steps are inside it). s/round is
the steady state: the mean time between aggregate evaluations after round 1; for the
baseline, its time over the number of rounds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from app.config import Settings
from app.core.centralized import run_centralized
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job, demo_config, start_cluster
from app.services.security.auth import SYSTEM


def wait_edges_online(services: Services, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = {e.name: e.status for e in services.edges.list(SYSTEM)}
        if all(status.get(n) in ("IDLE", "TRAINING") for n in names):
            return
        time.sleep(0.1)
    raise TimeoutError("edges did not come online")


def steady_round_seconds(services: Services, job_id: int) -> float | None:
    """Mean time between aggregate evaluations after round 1 (start-up excluded)."""
    from sqlalchemy import select

    from app.storage.models import RoundMetric

    with services.db.session() as s:
        times = s.scalars(
            select(RoundMetric.at)
            .where(
                RoundMetric.job_id == job_id,
                RoundMetric.node == "aggregate",
                RoundMetric.name == "test_accuracy",
            )
            .order_by(RoundMetric.round)
        ).all()
    if len(times) < 3:
        return None
    return (times[-1] - times[1]).total_seconds() / (len(times) - 2)


def fl_run(backend: str, edges: int, rounds: int, root: Path) -> dict:
    settings = Settings.load(data_dir=root / backend)
    services = Services.open(settings)
    options = DemoOptions(edges=edges, rounds=rounds, backend=backend, heartbeat_s=1.0)
    cluster = start_cluster(settings, services, options)
    done = threading.Event()
    try:
        cluster.launcher.on_exit = lambda _id: done.set()
        wait_edges_online(services, cluster.edge_names)
        job_id = create_demo_job(services, cluster.edge_names, options)
        start = time.perf_counter()
        cluster.launcher.start(SYSTEM, job_id)
        done.wait()
        elapsed = time.perf_counter() - start
        cluster.ingest.drain(15)
        acc = [
            m.value
            for m in services.run_data.metrics(SYSTEM, job_id)
            if m.node == "aggregate" and m.name == "test_accuracy"
        ]
        status = services.jobs.get(SYSTEM, job_id).status
        return {
            "run": f"fedavg-{backend}",
            "seconds": elapsed,
            "accuracy": acc[-1] if acc else None,
            "status": status,
            "steady_round_s": steady_round_seconds(services, job_id),
        }
    finally:
        cluster.close()
        services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backends", default="local,mqtt,grpc")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    config = demo_config(DemoOptions(edges=args.edges, rounds=args.rounds))
    import torch

    from app.core.datasets import load_dataset

    torch.set_num_threads(1)  # as each edge does; warm imports and data are not timed
    load_dataset(config.dataset, config.training.seed)
    start = time.perf_counter()
    base = run_centralized(config)
    base_s = time.perf_counter() - start
    rows = [
        {
            "run": "centralized",
            "seconds": base_s,
            "accuracy": base.test_accuracy,
            "status": "FINISHED",
            "steady_round_s": base_s / args.rounds,
        }
    ]
    with tempfile.TemporaryDirectory(prefix="feddeck-bench-") as tmp:
        for backend in args.backends.split(","):
            rows.append(fl_run(backend, args.edges, args.rounds, Path(tmp)))
    for row in rows:
        row["vs_centralized"] = row["seconds"] / base_s
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{args.edges} edges, {args.rounds} rounds x {config.training.local_epochs} local "
            f"epochs, digits, MLP {config.model.hidden}"
        )
        print(
            f"{'run':<16} {'seconds':>8} {'x centralized':>14} {'s/round':>8} "
            f"{'accuracy':>9} status"
        )
        for r in rows:
            steady = r["steady_round_s"]
            print(
                f"{r['run']:<16} {r['seconds']:>8.2f} {r['vs_centralized']:>14.1f} "
                f"{(steady if steady is not None else float('nan')):>8.3f} "
                f"{(r['accuracy'] or 0):>9.4f} {r['status']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
