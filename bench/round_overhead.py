"""What federation costs in wall time: a FedAvg run with N edges on each backend, beside the
centralized baseline (same data, model and epochs) run in this process.

    python -m bench.round_overhead [--edges 4] [--rounds 20] [--backends local,mqtt,grpc]
                                   [--cold grpc] [--shell mqtt,grpc] [--secure grpc] [--json]

The edges are connected and idle before the clock starts, as an operator's are. Reported per
run: start-up (launch to the server's RUNNING: its process, the task, the edges joining),
the first round and the mean steady round (between the aggregate evaluations after round 1),
the whole run (launch to the server process ended and the run settled), and the peak
resident memory of the run's processes together (its server and the edges): RSS, which
counts torch's shared libraries once in each process, and PSS, which splits them. Runs use
the control center's warm standby server; a `cold` row starts the server process at launch
instead, as every run did before there was one. A `shell` row starts the run as an operator
does from a terminal while the center runs: `feddeck job start` spawned at the clock's
start, signing in, handing the run to the center over the hub, following it to its end.
A `secure` row runs with secure aggregation (masked updates, their seeds' shares, and the
unmasking exchange after each round); `KB in/rnd` is what reached the server per round.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from app.config import Settings
from app.core.centralized import run_centralized
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job, demo_config, start_cluster
from app.services.runs.events import LiveEvent
from app.services.runs.launch_requests import LaunchDesk
from app.services.security.auth import SYSTEM

SHELL_PASSWORD = "bench-shell-pass"


def wait_edges_online(services: Services, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = {e.name: e.status for e in services.edges.list(SYSTEM)}
        if all(status.get(n) in ("IDLE", "TRAINING") for n in names):
            return
        time.sleep(0.1)
    raise TimeoutError("edges did not come online")


def _cpu_percent(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.cpu_percent(None)
    return total


def wait_quiet(timeout: float = 90, below: float = 5.0) -> None:
    """Until this process's children (edges warming up, the standby server) are idle: under
    `below` % of a core together for a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = psutil.Process().children(recursive=True)
        _cpu_percent(children)  # starts each process's count
        time.sleep(1.0)
        if _cpu_percent(children) < below:
            return
    raise TimeoutError("the edges and the standby server did not settle")


class PeakMemory:
    """The largest sums of resident memory of the processes `pids()` names: RSS every
    20 ms (each process counts the shared libraries it maps, torch's among them), PSS every
    200 ms (shared pages split among the processes sharing them; reading it is slower)."""

    def __init__(self, pids) -> None:
        self.pids, self.rss, self.pss = pids, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        tick = 0
        while not self._stop.wait(0.02):
            rss = pss = 0
            for pid in self.pids():
                with contextlib.suppress(psutil.Error):
                    process = psutil.Process(pid)
                    if tick % 10:
                        rss += process.memory_info().rss
                    else:
                        info = process.memory_full_info()
                        rss, pss = rss + info.rss, pss + info.pss
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            tick += 1


def fl_run(backend: str, edges: int, rounds: int, root: Path, how: str = "center") -> dict:
    """`how`: "center" (its launcher, warm standby), "cold" (no standby), "shell", or
    "secure" (the center's, with secure aggregation)."""
    settings = Settings.load(data_dir=root / f"{backend}-{how}")
    services = Services.open(settings)
    options = DemoOptions(
        edges=edges,
        rounds=rounds,
        backend=backend,
        heartbeat_s=1.0,
        secure_aggregation=how == "secure",
    )
    cluster = start_cluster(settings, services, options)
    done = threading.Event()
    marks: dict[str, float] = {}

    def on_event(event: LiveEvent) -> None:
        if event.kind == "job" and event.data.get("status") == "RUNNING":
            at = time.perf_counter()
            marks.setdefault("running", at)
            if event.data.get("round") == 1:
                marks.setdefault("round1", at)

    try:
        if how == "cold" and cluster.launcher.standby is not None:
            cluster.launcher.standby.close()
            cluster.launcher.standby = None
        cluster.launcher.on_exit = lambda _id: done.set()
        cluster.ingest.events.subscribe(on_event)
        wait_edges_online(services, cluster.edge_names)
        wait_quiet()
        job_id = create_demo_job(services, cluster.edge_names, options)
        edge_pids = [p.pid for p in cluster.edges.procs]

        def run_pids() -> list[int]:
            server = cluster.launcher._procs.get(job_id)
            return edge_pids + ([server.pid] if server is not None else [])

        if how == "shell":  # the center takes the run a shell asks for
            LaunchDesk(cluster.hub, services, cluster.launcher.start)
            services.users.add(SYSTEM, "bench", SHELL_PASSWORD, "operator")
        with PeakMemory(run_pids) as memory:
            start = time.perf_counter()
            if how == "shell":
                shell = _shell_start(settings, cluster.hub_url, job_id)
            else:
                cluster.launcher.start(SYSTEM, job_id)
            done.wait()
            if how == "shell":
                _, err = shell.communicate(timeout=60)
                if shell.returncode:
                    raise RuntimeError(f"job start failed: {err[-2000:]}")
            elapsed = time.perf_counter() - start
        cluster.ingest.drain(15)
        metrics = services.run_data.metrics(SYSTEM, job_id)
        aggregate = [m for m in metrics if m.node == "aggregate"]
        acc = [m.value for m in aggregate if m.name == "test_accuracy"]
        hub_in = [m.value for m in aggregate if m.name == "hub_bytes_in"]
        status = services.jobs.get(SYSTEM, job_id).status
        return {
            "run": f"fedavg-{backend}{'' if how == 'center' else f' ({how})'}",
            "hub_kb_in_per_round": sum(hub_in) / len(hub_in) / 1024 if hub_in else None,
            "seconds": elapsed,
            "startup_s": marks.get("running", start) - start,
            "first_round_s": marks.get("round1", start) - marks.get("running", start),
            "accuracy": acc[-1] if acc else None,
            "status": status,
            "steady_round_s": steady_round_seconds(services, job_id),
            # None when the run had no processes of its own (the local hub: threads here)
            "peak_rss_mb": memory.rss / 2**20 or None,
            "peak_pss_mb": memory.pss / 2**20 or None,
        }
    finally:
        cluster.close()
        services.close()


def _shell_start(settings: Settings, hub_url: str, job_id: int) -> subprocess.Popen:
    env = {**os.environ, "FEDDECK_USER": "bench", "FEDDECK_PASSWORD": SHELL_PASSWORD}
    args = ["--data-dir", str(settings.data_dir), "--hub-url", hub_url, "job", "start"]
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args, str(job_id), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backends", default="local,mqtt,grpc")
    parser.add_argument("--cold", default="grpc", help="backends to run cold too ('' for none)")
    parser.add_argument(
        "--shell", default="mqtt,grpc", help="backends to start from a shell too ('' for none)"
    )
    parser.add_argument(
        "--secure", default="grpc", help="backends to run with secure aggregation too ('' for none)"
    )
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
    runs = [(b, "center") for b in args.backends.split(",")]
    runs += [(b, "cold") for b in filter(None, args.cold.split(","))]
    runs += [(b, "shell") for b in filter(None, args.shell.split(","))]
    runs += [(b, "secure") for b in filter(None, args.secure.split(","))]
    with tempfile.TemporaryDirectory(prefix="feddeck-bench-") as tmp:
        for backend, how in runs:
            rows.append(fl_run(backend, args.edges, args.rounds, Path(tmp), how=how))
    for row in rows:
        row["vs_centralized"] = row["seconds"] / base_s
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{args.edges} edges, {args.rounds} rounds x {config.training.local_epochs} local "
        f"epochs, digits, MLP {config.model.hidden}"
    )
    print(
        f"{'run':<19} {'start-up s':>10} {'round 1 s':>9} {'s/round':>8} {'whole s':>8} "
        f"{'x centr.':>8} {'RSS MB':>7} {'PSS MB':>7} {'KB in/rnd':>9} {'accuracy':>9} status"
    )

    def cell(value, width: int, fmt: str) -> str:
        return f"{value:>{width}{fmt}}" if value is not None else f"{'-':>{width}}"

    for r in rows:
        print(
            f"{r['run']:<19} {cell(r.get('startup_s'), 10, '.2f')} "
            f"{cell(r.get('first_round_s'), 9, '.3f')} {cell(r['steady_round_s'], 8, '.3f')} "
            f"{r['seconds']:>8.2f} {r['vs_centralized']:>8.1f} "
            f"{cell(r.get('peak_rss_mb'), 7, '.0f')} {cell(r.get('peak_pss_mb'), 7, '.0f')} "
            f"{cell(r.get('hub_kb_in_per_round'), 9, '.0f')} {(r['accuracy'] or 0):>9.4f} "
            f"{r['status']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
