"""`feddeck cluster-rank`: one rank of a cluster run, started by the cluster's engine (the
launcher runs `mpirun … feddeck cluster-rank`). Rank 0 serves the run and joins the ranks
to the control center's hub; every other rank is an edge agent named by host and rank."""

from __future__ import annotations

import argparse
import importlib
import logging
import socket
import sys

from app.cli.context import CliContext
from app.cli.server_process import RunFailed
from app.cli.signals import on_stop_signals
from app.wire.transports import parse_hub_url


def cluster_rank(ctx: CliContext, args: argparse.Namespace):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    transport = parse_hub_url(args.ranks).transport
    world = importlib.import_module(transport.client.partition(":")[0])
    link = world.world()
    try:
        if link.rank == 0:
            return _serve(ctx, args)
        _train(ctx, args, link)
        return None
    finally:
        world.end_world(wait_s=0 if link.rank == 0 else 60)


def _serve(ctx: CliContext, args: argparse.Namespace):
    from app.services.runs.cluster_serving import serve_cluster_run

    outcome = serve_cluster_run(
        ctx.services,
        ctx.settings,
        args.job_id,
        args.hub,
        args.ranks,
        resume=args.resume,
        on_server=lambda server: on_stop_signals(server.request_stop),
    )
    if outcome.state == "FAILED":
        raise RunFailed(f"run {args.job_id} failed: {outcome.reason}")
    return {"job_id": args.job_id, "state": outcome.state, "rounds": outcome.rounds_done}


def _train(ctx: CliContext, args: argparse.Namespace, link) -> None:
    """An edge agent on this rank until the run's rank 0 ends the world (or a signal)."""
    from app.backends.factory import create_hub
    from app.cli.edge_command import parse_data_options
    from app.core.edge import EdgeAgent
    from app.services.runs.cluster import rank_node
    from app.wire import topics

    node = rank_node(socket.gethostname(), link.rank)
    hub = create_hub(
        args.ranks, node, will_topic=topics.edge_topic(node, "status"), limits=ctx.settings.wire
    )
    agent = EdgeAgent(
        hub,
        node,
        node,
        heartbeat_s=args.heartbeat,
        data=parse_data_options(args.data),
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
        "cluster-rank", parents=[common], help="one rank of a cluster run (started by mpirun)"
    )
    p.add_argument("--job", dest="job_id", type=int, required=True)
    p.add_argument("--hub", required=True, help="the control center's hub (rank 0 joins it)")
    p.add_argument("--ranks", required=True, help="how ranks reach each other: mpi://world")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--heartbeat", type=float, default=2.0)
    p.add_argument("--data", action="append", default=[], metavar="KEY=PATH")
    p.add_argument("--trust-center", metavar="FINGERPRINT")
    p.set_defaults(handler=cluster_rank, quick_exit=True)
