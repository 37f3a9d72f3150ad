"""The cluster engine options of `job create`, `job start` and `schedule create`: `--mpi`,
`--torchrun`, `--slurm` and theirs, made a checked ClusterPlan."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.errors import InvalidInput

# The engines' options, and which engines take each.
ENGINE_OPTIONS = {
    "--np": ("mpi", "slurm"),
    "--hostfile": ("mpi",),
    "--nproc-per-node": ("torchrun",),
    "--nnodes": ("torchrun",),
    "--nodes": ("slurm",),
    "--partition": ("slurm",),
    "--data-map": ("mpi", "torchrun", "slurm"),
}


def cluster_plan(args: argparse.Namespace):
    """`--mpi [--np N] [--hostfile F]`, `--torchrun [--nproc-per-node K]` or `--slurm [--np
    N] [--nodes N] [--partition P]`, each with `[--data-map F]`: the run's ranks, checked
    before anything starts."""
    engines = [e for e in ("mpi", "torchrun", "slurm") if getattr(args, e)]
    if len(engines) > 1:
        raise InvalidInput(f"choose one of --{' / --'.join(engines)}")
    engine = engines[0] if engines else None
    given = {}
    for option, takers in ENGINE_OPTIONS.items():
        value = getattr(args, option[2:].replace("-", "_"))
        if value is None:
            continue
        if engine not in takers:
            raise InvalidInput(f"{option} goes with --{' or --'.join(takers)}")
        given[option] = value
    if engine is None:
        return None
    from app.core.run.cluster import ClusterPlan
    from app.core.run.cluster_data import read_data_map

    nnodes = given.get("--nnodes", 1)
    ranks = given.get("--np", given.get("--nproc-per-node", 3) * nnodes)
    hostfile = Path(given["--hostfile"]).absolute() if "--hostfile" in given else None
    data_map = read_data_map(Path(args.data_map)) if args.data_map else None
    return ClusterPlan(
        engine, ranks, hostfile, given.get("--partition"), given.get("--nodes"), data_map, nnodes
    ).check()


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """`--mpi`, `--torchrun`, `--slurm` and their options (ENGINE_OPTIONS)."""
    engine = p.add_argument_group("on a cluster's ranks (rank 0 serves, the others train)")
    engine.add_argument("--mpi", action="store_true", help="the ranks mpirun starts")
    engine.add_argument("--torchrun", action="store_true", help="the ranks torchrun starts here")
    engine.add_argument("--slurm", action="store_true", help="ranks 1..N started by srun")
    engine.add_argument("--np", type=int, help="--mpi, --slurm: ranks in all, rank 0 included (3)")
    engine.add_argument(
        "--hostfile", help="--mpi: Open MPI's hostfile; this machine first (rank 0)"
    )
    engine.add_argument("--nproc-per-node", type=int, help="--torchrun: ranks, rank 0 included (3)")
    engine.add_argument("--nnodes", type=int, help="--torchrun: 1 (this machine)")
    engine.add_argument("--nodes", type=int, help="--slurm: nodes for ranks 1..N")
    engine.add_argument("--partition", help="--slurm: the Slurm partition")
    engine.add_argument(
        "--data-map",
        metavar="FILE",
        help='which data each rank trains on: TOML tables by host or rank of KEY = "PATH"',
    )
