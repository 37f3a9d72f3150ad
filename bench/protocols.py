"""The protocols side by side on the same edges: FedAvg through a server, push-sum and DSGD
with no server, FedGKT's small edge CNNs and large server model, and the FedGKT edge CNN
trained alone on each partition (no federation), all on digits with the demo's split.

    python -m bench.protocols [--edges 8] [--rounds 20] [--backend grpc] [--json]

Per run: the final accuracy (FedAvg: the global model; push-sum and DSGD: the mean of the
edges' models; FedGKT: the server model on the edges' features, and the edges' own CNNs),
the bytes that reached the nodes in a mean round (models, updates, features, logits), and
the wall time from launch to the run settled. One run each, the edges online, idle and
warmed up by a one-round run before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from app.config import Settings
from app.core.fl_config import FLConfig
from app.core.gkt.alone import train_alone
from app.services import Services
from app.services.runs.demo import DemoOptions, demo_config, start_cluster
from app.services.security.auth import SYSTEM
from bench.round_overhead import wait_edges_online

RUNS = {
    "fedavg": {"algorithm": {"name": "fedavg"}},
    "pushsum": {"algorithm": {"name": "pushsum"}},
    "dsgd": {"algorithm": {"name": "dsgd"}},
    "fedgkt": {"algorithm": {"name": "fedgkt"}},
}


def run_all(edges: int, rounds: int, backend: str) -> list[dict]:
    settings = Settings.load(data_dir=Path(tempfile.mkdtemp(prefix="feddeck-bench-")))
    services = Services.open(settings)
    options = DemoOptions(edges=edges, rounds=rounds, backend=backend)
    cluster = start_cluster(settings, services, options)
    base = demo_config(options).model_dump(mode="json")
    graph = {"graph": "ring", "random_links": edges, "seed": 1}
    rows = []
    try:
        services.groups.add(SYSTEM, "bench")
        services.projects.create(SYSTEM, "bench", "bench")
        wait_edges_online(services, cluster.edge_names)
        warm = {"algorithm": {"name": "fedavg"}, "training": {**base["training"], "rounds": 1}}
        for name, sections in [("warm-up", warm), *RUNS.items()]:
            config = FLConfig.model_validate(
                {**base, **sections, "name": f"bench-{name}", "decentralized": graph}
            )
            saved = services.configs.save(SYSTEM, config)
            job = services.jobs.create(SYSTEM, name, "bench", saved.name, cluster.edge_names)
            ended = threading.Event()
            cluster.launcher.on_exit = lambda _id, ended=ended: ended.set()
            started = time.perf_counter()
            cluster.launcher.start(SYSTEM, job.id)
            ended.wait(600)
            wall = time.perf_counter() - started
            cluster.ingest.settle()
            if name == "warm-up":  # the edges' and the standby server's first use of torch
                continue
            figures: dict[str, list[float]] = {}
            for m in services.run_data.metrics(SYSTEM, job.id):
                if m.node == "aggregate":
                    figures.setdefault(m.name, []).append(m.value)
            rows.append(
                {
                    "run": name,
                    "status": services.jobs.get(SYSTEM, job.id).status,
                    "accuracy": (figures.get("test_accuracy") or [None])[-1],
                    "edge_accuracy": (figures.get("edge_accuracy") or [None])[-1],
                    "bytes_per_round": statistics.fmean(figures.get("bytes_per_round") or [0]),
                    "wall_s": round(wall, 2),
                }
            )
        gkt = FLConfig.model_validate({**base, **RUNS["fedgkt"]})
        started = time.perf_counter()
        alone = [train_alone(gkt, i, edges)["accuracy"] for i in range(edges)]
        rows.append(
            {
                "run": "fedgkt's edge CNN alone",
                "status": "-",
                "accuracy": None,
                "edge_accuracy": statistics.fmean(alone),
                "bytes_per_round": 0.0,
                "wall_s": round(time.perf_counter() - started, 2),
            }
        )
    finally:
        cluster.close()
        services.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backend", default="grpc")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run_all(args.edges, args.rounds, args.backend)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"digits, {args.edges} edges on {args.backend}, {args.rounds} rounds, one run each")
    print(
        f"{'run':<24} {'status':<9} {'accuracy':>9} {'edges own':>9} {'KB/round':>10} {'wall s':>7}"
    )

    def shown(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    for r in rows:
        print(
            f"{r['run']:<24} {r['status']:<9} {shown(r['accuracy']):>9} "
            f"{shown(r['edge_accuracy']):>9} {r['bytes_per_round'] / 1e3:>10.1f} "
            f"{r['wall_s']:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
