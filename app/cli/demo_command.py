"""`feddeck demo`: a control center, edges and one FedAvg run on this machine."""

from __future__ import annotations

import argparse

from app.cli.context import CliContext
from app.cli.output import round_progress
from app.errors import InvalidInput
from app.wire.transports import embeddable


def demo_run(ctx: CliContext, args: argparse.Namespace):
    from app.services.runs.demo import DemoOptions, run_demo

    if not args.headless:
        chosen = [f for f in ("secure_aggregation", "decentralized") if getattr(args, f)]
        if chosen:
            flag = "--" + chosen[0].replace("_", "-")
            raise InvalidInput(
                f"{flag} is for the headless demo (add --headless); in the window, import "
                "its config from resources/configs/ and start a job with it"
            )
        from app.ui.app import run_app

        return run_app(ctx.settings, start_demo=True) or None
    if args.rounds < 1:
        raise InvalidInput("--rounds must be at least 1")
    options = DemoOptions(
        edges=args.edges,
        rounds=args.rounds,
        backend=args.backend,
        heartbeat_s=args.heartbeat,
        device=args.device,
        secure_aggregation=args.secure_aggregation,
        decentralized=args.decentralized,
    )

    progress = None if ctx.as_json else round_progress(args.rounds)
    return run_demo(ctx.settings, options, on_event=progress)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="local demo cluster with one FedAvg run")
    p.add_argument("--headless", action="store_true", help="no window; print progress")
    p.add_argument("--edges", type=int, default=4)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--backend", choices=list(embeddable()), default="mqtt")
    p.add_argument("--heartbeat", type=float, default=1.0)
    p.add_argument(
        "--device", default="auto", help="where edges train: auto (a GPU if any), cpu, cuda[:N]"
    )
    p.add_argument(
        "--secure-aggregation",
        action="store_true",
        help="the server learns only the sum of the updates (at least 3 edges)",
    )
    p.add_argument(
        "--decentralized",
        action="store_true",
        help="no server: the edges run push-sum over a ring plus random links",
    )
    p.set_defaults(handler=demo_run, exit_by_status=True)
