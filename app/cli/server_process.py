"""`feddeck server`: the FL server process of one run, started by the launcher (at once,
or ahead of need as a standby that reads its run from stdin)."""

from __future__ import annotations

import argparse
import os
import sys

from app.cli.context import CliContext
from app.cli.signals import on_stop_signals
from app.errors import InvalidInput
from app.wire.transports import client_url, parse_hub_url


def server_run(ctx: CliContext, args: argparse.Namespace):
    """The FL server process for one run (started by the launcher)."""
    import logging

    from app.services.runs.serving import serve_run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def stop_on_signals(server) -> None:
        on_stop_signals(server.request_stop)

    outcome = serve_run(
        ctx.services,
        ctx.settings,
        args.job_id,
        args.hub or ctx.settings.hub_url,
        resume=args.resume,
        on_server=stop_on_signals,
    )
    if outcome.state == "FAILED":
        raise RunFailed(f"run {args.job_id} failed: {outcome.reason}")
    return {
        "job_id": args.job_id,
        "state": outcome.state,
        "rounds": outcome.rounds_done,
        "test_accuracy": outcome.test_accuracy,
    }


class RunFailed(InvalidInput):
    pass


def server_standby(ctx: CliContext, args: argparse.Namespace):
    """An FL server started ahead of need (by the launcher): torch, the task runtime, the
    hub client and the database are ready before the run is. It then reads its run from
    stdin, one JSON line: {"job_id": ID, "resume": BOOL, "log": PATH}, moves its output to
    the run's log and serves it. Stdin closing first means the launcher is gone: it ends."""
    import importlib
    import json

    from app.core.warmup import warm_up

    problem = None
    try:
        transport = parse_hub_url(client_url(args.hub or ctx.settings.hub_url)).transport
        # the server, and the transport's client library (grpcio or paho)
        modules = ["app.core.run.server", "app.services.runs.serving"]
        modules.append(transport.client.partition(":")[0])
        for module in modules:
            importlib.import_module(module)
        _ = ctx.services.jobs  # the database opened and its schema checked
        warm_up(train=False)
    except Exception as exc:  # said in the log of the run it is handed, where it is read
        problem = exc
    line = sys.stdin.readline()
    if not line.strip():
        return None
    try:
        order = json.loads(line)
        run, resume, log_file = int(order["job_id"]), bool(order.get("resume")), str(order["log"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"standby server: a malformed run order {line[:200]!r}: {exc}") from None
    _output_to(log_file)
    if problem is not None:
        raise problem
    args.job_id, args.resume = run, resume
    return server_run(ctx, args)


def _output_to(path: str) -> None:
    """This process's stdout and stderr appended to `path` from now on."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("server", parents=[common], help="FL server process for one run")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", dest="job_id", type=int, help="the job to run")
    which.add_argument(
        "--standby", action="store_true", help="get ready, then read the run from stdin"
    )
    p.add_argument("--hub", help="hub URL (default: the configured hub)")
    p.add_argument("--resume", action="store_true", help="continue after the last aggregated round")
    p.set_defaults(
        handler=lambda ctx, a: (server_standby if a.standby else server_run)(ctx, a),
        quick_exit=True,
    )
