"""`feddeck edge --hub URL --token T`: the edge agent process."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.cli.context import CliContext
from app.cli.signals import on_stop_signals
from app.config import EDGE_TOKEN_ENV
from app.errors import InvalidInput
from app.wire.hub import HubError


def edge_run(ctx: CliContext, args: argparse.Namespace):
    """The edge agent: runs until SIGINT/SIGTERM (exit 0), or until the hub refuses it for
    good (exit 1, with the hub's reason)."""
    import logging

    from app.backends.factory import create_hub
    from app.core.edge import EdgeAgent
    from app.core.tasks.signature import normalise_fingerprint
    from app.wire import topics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.token = args.token or os.environ.get(EDGE_TOKEN_ENV, "")
    if not args.hub or not args.token:
        raise InvalidInput(
            "give a sub-command (add, list, remove), or --hub and --token (or the "
            f"{EDGE_TOKEN_ENV} variable, which `ps` does not show) to run the agent"
        )
    device_id, _, secret = args.token.partition(".")
    if not device_id or not secret:
        raise InvalidInput("--token must be the token printed by `feddeck edge add`")
    if args.heartbeat <= 0:
        raise InvalidInput("--heartbeat must be a positive number of seconds")
    hub = create_hub(
        args.hub,
        device_id,
        token=args.token,
        will_topic=topics.edge_topic(device_id, "status"),
        limits=ctx.settings.wire,
    )
    data = parse_data_options(args.data)
    trusted = normalise_fingerprint(args.trust_center) if args.trust_center else None
    agent = EdgeAgent(
        hub,
        device_id,
        args.name or device_id,
        heartbeat_s=args.heartbeat,
        data=data,
        trust_center=trusted,
        cache_dir=ctx.settings.data_dir / "task-cache",
    )
    hub.connect(timeout=30)  # a signal while connecting ends the process at once
    # From here a signal ends it cleanly; installed before the agent says it is online, so
    # one sent as soon as it is seen online is not met by Python's default handler.
    on_stop_signals(agent.request_stop)
    agent.start()
    print(f"edge {agent.name} ({device_id}) connected to {args.hub}", file=sys.stderr)
    if data:
        print(f"data: {', '.join(f'{k}={v}' for k, v in sorted(data.items()))}", file=sys.stderr)
    if trusted:
        print(f"runs tasks shipped by center {trusted[:16]}…", file=sys.stderr)
    try:
        while not agent.wait(1.0):  # wakes for signals, which run between waits
            pass
    finally:
        agent.stop()
        hub.close()
    if agent.fatal_error:
        raise HubError(f"{agent.fatal_error}; the edge agent stops")
    return None


def add_agent_options(p: argparse.ArgumentParser) -> None:
    """`feddeck edge --hub URL --token T`: the agent shares the `edge` command."""
    p.add_argument("--hub", help="hub URL, e.g. mqtt://10.0.0.5:18830")
    p.add_argument(
        "--token",
        help=f"the edge's token from `feddeck edge add` (or set {EDGE_TOKEN_ENV}: `ps` shows "
        "a command line to every user of the machine)",
    )
    p.add_argument("--name", help="display name (default: the device id)")
    p.add_argument("--heartbeat", type=float, default=2.0, help="seconds between load samples")
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="a data folder of this device, by the key tasks ask for (repeatable)",
    )
    p.add_argument(
        "--trust-center",
        metavar="FINGERPRINT",
        help="run tasks shipped and signed by this control center (printed by `edge add`)",
    )


def parse_data_options(values: list[str]) -> dict[str, Path]:
    """`--data KEY=PATH` options: keys like task data keys, folders or files that exist."""
    data: dict[str, Path] = {}
    for value in values:
        key, sep, path = value.partition("=")
        key = key.strip()
        if not sep or not key or not path:
            raise InvalidInput(f"--data {value!r}: give KEY=PATH")
        if not key.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise InvalidInput(f"--data {value!r}: the key may hold letters, digits, . _ - only")
        if key in data:
            raise InvalidInput(f"--data {key}: given twice")
        folder = Path(path).expanduser().resolve()
        if not folder.exists():
            raise InvalidInput(f"--data {key}={path}: no such file or folder")
        data[key] = folder
    return data
