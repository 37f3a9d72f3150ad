"""`feddeck cluster-rank`: one rank of a cluster run, started by the cluster's engine (the
launcher runs `mpirun … feddeck cluster-rank` or `torchrun …`; for Slurm it runs rank 0,
which starts the others with srun). Rank 0 serves the run and joins the ranks to the
control center's hub; every other rank is an edge agent named by host and rank."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading

from app.cli.context import CliContext
from app.cli.server_process import RunFailed
from app.cli.signals import on_stop_signals

_MET = threading.Event()  # the ranks met: from then on, a rank's end is the run's news


def cluster_rank(ctx: CliContext, args: argparse.Namespace):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from app.backends.ranks.world import world_of

    trainers = _start_trainers()
    world = world_of(args.ranks)
    try:
        link = world.link()
        _MET.set()
        try:
            if link.rank == 0:
                return _serve(ctx, args)
            _train(ctx, args, link)
            return None
        finally:
            world.end(wait_s=0 if link.rank == 0 else 60)
    finally:
        if trainers is not None:
            _end_trainers(trainers)


def _start_trainers() -> subprocess.Popen | None:
    """Rank 0 of a Slurm run: ranks 1..N, started with srun before the ranks meet (its
    output goes where this rank's goes: the run's server log)."""
    from app.backends.trpc.wire import RANK_OFFSET_ENV
    from app.core.run.cluster import TRAINERS_ENV

    srun = os.environ.get(TRAINERS_ENV)
    if srun is None:
        return None
    env = {k: v for k, v in os.environ.items() if k not in (TRAINERS_ENV, "RANK", "WORLD_SIZE")}
    env[RANK_OFFSET_ENV] = "1"
    command = [*json.loads(srun), sys.executable, "-m", "app", *sys.argv[1:]]
    print(f"ranks 1..N: {shlex.join(command)}", file=sys.stderr, flush=True)
    trainers = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        errors="replace",
    )  # fmt: skip
    threading.Thread(target=_watch_trainers, args=(trainers,), daemon=True).start()
    return trainers


def _watch_trainers(srun: subprocess.Popen) -> None:
    """srun's output passed on; an srun that fails before the ranks met (a partition that
    does not exist, no free nodes) ends rank 0 at once with srun's own words, rather than
    at the rendezvous' timeout."""
    said = ""
    for line in srun.stderr:
        sys.stderr.write(line)
        if "error" in line.lower():
            said = line.strip()
    code = srun.wait()
    if code != 0 and not _MET.is_set():
        print(
            f"feddeck: error: srun exited with code {code} before ranks 1..N met rank 0"
            + (f": {said[:300]}" if said else ""),
            file=sys.stderr,
            flush=True,
        )
        os._exit(3)


def _end_trainers(srun: subprocess.Popen) -> None:
    """The ranks srun started end with the world; srun is ended if they do not."""
    try:
        srun.wait(30)
    except subprocess.TimeoutExpired:
        srun.terminate()  # srun passes it on to its tasks and ends the job step
        try:
            srun.wait(15)
        except subprocess.TimeoutExpired:
            srun.kill()


def _serve(ctx: CliContext, args: argparse.Namespace):
    from app.services.runs.cluster_serving import serve_cluster_run

    outcome = serve_cluster_run(
        ctx.services,
        ctx.settings,
        args.job_id,
        args.hub,
        args.ranks,
        resume=args.resume,
        on_server=_on_signals,
    )
    if outcome.state == "FAILED":
        raise RunFailed(f"run {args.job_id} failed: {outcome.reason}")
    return {"job_id": args.job_id, "state": outcome.state, "rounds": outcome.rounds_done}


def _on_signals(server) -> None:
    """Ctrl-C, or the launcher's terminate: the run stops. torchrun's SIGTERM means a rank
    failed (it then ends them all): the run fails."""
    on_stop_signals(server.request_stop)
    if "TORCHELASTIC_RUN_ID" in os.environ:
        failure = "torchrun ended every rank: one of the run's ranks failed (see the log)"
        signal.signal(signal.SIGTERM, lambda *_: server.request_stop(failure))


def _train(ctx: CliContext, args: argparse.Namespace, link) -> None:
    """An edge agent on this rank until the run's rank 0 ends the world (or a signal)."""
    from app.backends.factory import create_hub
    from app.cli.edge_command import parse_data_options
    from app.core.edge import EdgeAgent
    from app.core.run.cluster import rank_node
    from app.core.run.cluster_data import data_of
    from app.wire import topics

    host = socket.gethostname()
    node = rank_node(host, link.rank)
    hub = create_hub(
        args.ranks, node, will_topic=topics.edge_topic(node, "status"), limits=ctx.settings.wire
    )
    agent = EdgeAgent(
        hub,
        node,
        node,
        heartbeat_s=args.heartbeat,
        data=parse_data_options(args.data + data_of(args.data_map, host, node)),
        trust_center=args.trust_center,
        cache_dir=ctx.settings.data_dir / "task-cache",
    )
    agent.start()
    on_stop_signals(agent.request_stop)
    print(f"rank {link.rank} of {link.size}: edge {node}", file=sys.stderr, flush=True)
    try:
        while not agent.wait(0.5) and link.ended is None:
            pass
    finally:
        agent.stop()
        hub.close()


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "cluster-rank", parents=[common], help="one rank of a cluster run (started by its engine)"
    )
    p.add_argument("--job", dest="job_id", type=int, required=True)
    p.add_argument("--hub", required=True, help="the control center's hub (rank 0 joins it)")
    p.add_argument(
        "--ranks", required=True, help="how ranks reach each other: mpi://world, trpc://world"
    )
    p.add_argument("--resume", action="store_true")
    p.add_argument("--heartbeat", type=float, default=2.0)
    p.add_argument("--data", action="append", default=[], metavar="KEY=PATH")
    p.add_argument(
        "--data-map", type=json.loads, default={}, help="host or rank → {KEY: PATH}, as JSON"
    )
    p.add_argument("--trust-center", metavar="FINGERPRINT")
    p.set_defaults(handler=cluster_rank, quick_exit=True)
