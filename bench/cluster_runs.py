"""The 20-round digits job on a cluster's ranks beside the same job on edge agents over
gRPC, each from a shell in a fresh data dir, measured in the same run.

    python -m bench.cluster_runs [--rounds 20] [--engines mpi,torchrun,slurm] [--repeat 3]
                                 [--json]

Rows: `grpc agents` is `feddeck demo --headless --edges 4 --backend grpc` (a control
center, its hub and four edge processes started, the run, all ended); each engine row is
`feddeck job start ID --<engine>` with 5 ranks (rank 0 the server, four trainers), the
engine starting every rank. `wall` is from the command's start to its exit; `run` from
the job's RUNNING to its FINISHED (the best of `--repeat` runs each); `vs grpc` the wall
over the gRPC row's. Slurm runs on
a one-node Slurm this benchmark starts (tests/servers.Slurm; root, slurm-wlm and munge).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from app.config import Settings
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job
from app.services.security.auth import SYSTEM

ROOT = Path(__file__).resolve().parents[1]
FLAGS = {
    "mpi": ["--mpi", "--np", "5"],
    "torchrun": ["--torchrun", "--nproc-per-node", "5"],
    "slurm": ["--slurm", "--np", "5"],
}
USER = {"FEDDECK_USER": "root", "FEDDECK_PASSWORD": "rootpass123"}


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=900
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[4:7]} failed: {done.stderr[-2000:]}")
    return wall


def _outcome(data: Path, job_id: int) -> tuple[float, float]:
    services = Services.open(Settings.load(data_dir=data))
    try:
        job = services.jobs.get(SYSTEM, job_id)
        at = {h["status"]: datetime.fromisoformat(h["at"]) for h in job.history}
        final = [
            m.value
            for m in services.run_data.metrics(SYSTEM, job_id)
            if m.node == "aggregate" and m.name == "test_accuracy"
        ][-1]
        return (at["FINISHED"] - at["RUNNING"]).total_seconds(), final
    finally:
        services.close()


def best(measure, repeat: int, *args) -> dict:
    """The run with the shortest wall of `repeat`, each in a fresh data dir."""
    return min((measure(*args, i) for i in range(repeat)), key=lambda row: row["wall_s"])


def grpc_agents(root: Path, rounds: int, i: int = 0) -> dict:
    data = root / f"grpc-{i}"
    command = [sys.executable, "-m", "app", "--data-dir", str(data), "demo", "--headless"]
    command += ["--edges", "4", "--rounds", str(rounds), "--backend", "grpc", "--json"]
    wall = _timed(command, {})
    services = Services.open(Settings.load(data_dir=data))
    try:
        (job,) = services.jobs.list(SYSTEM)
    finally:
        services.close()
    run, final = _outcome(data, job.id)
    return {"how": "grpc agents", "wall_s": wall, "run_s": run, "accuracy": final}


def on_ranks(root: Path, engine: str, rounds: int, env: dict[str, str], i: int = 0) -> dict:
    data = root / f"{engine}-{i}"
    services = Services.open(Settings.load(data_dir=data))
    try:
        services.users.create_first_admin(USER["FEDDECK_USER"], USER["FEDDECK_PASSWORD"])
        job_id = create_demo_job(services, [], DemoOptions(edges=4, rounds=rounds))
    finally:
        services.close()
    command = [sys.executable, "-m", "app", "--data-dir", str(data), "job", "start"]
    command += [str(job_id), *FLAGS[engine], "--json"]
    wall = _timed(command, {**USER, **env})
    run, final = _outcome(data, job_id)
    return {"how": f"{engine} ranks", "wall_s": wall, "run_s": run, "accuracy": final}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--engines", default="mpi,torchrun,slurm")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best counts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(FLAGS))
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(FLAGS)}")
    root = Path(tempfile.mkdtemp(prefix="feddeck-bench-cluster-"))
    rows = [best(grpc_agents, args.repeat, root, args.rounds)]
    for engine in engines:
        env, slurm = {}, None
        if engine == "mpi" and shutil.which("mpirun") is None:
            print("skipping mpi: mpirun is not installed", file=sys.stderr)
            continue
        if engine == "slurm":
            from tests.servers import Slurm

            try:
                slurm = Slurm().start()
            except (FileNotFoundError, RuntimeError, AssertionError) as exc:
                print(f"skipping slurm: {exc}", file=sys.stderr)
                continue
            env = slurm.env
        try:
            rows.append(best(on_ranks, args.repeat, root, engine, args.rounds, env))
        finally:
            if slurm is not None:
                slurm.stop()
    base = rows[0]["wall_s"]
    for row in rows:
        row["vs_grpc"] = row["wall_s"] / base
    shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'how':<16} {'wall s':>7} {'run s':>7} {'accuracy':>9} {'vs grpc':>8}")
    for r in rows:
        print(
            f"{r['how']:<16} {r['wall_s']:>7.2f} {r['run_s']:>7.2f} {r['accuracy']:>9.4f} "
            f"{r['vs_grpc']:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
