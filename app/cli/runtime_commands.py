"""`feddeck hub ...`: long-running processes of the FL network."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from app.cli.context import CliContext
from app.errors import InvalidInput


def parse_host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{what} {value!r} must be HOST:PORT (or :PORT), port 1-65535")
    return host or "0.0.0.0", int(port)


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def hub_run(ctx: CliContext, args: argparse.Namespace):
    from app.backends.embedded import start_embedded_hub

    if bool(args.grpc) == bool(args.mqtt):
        raise InvalidInput("give exactly one of --grpc HOST:PORT or --mqtt HOST:PORT")
    kind, address = ("grpc", args.grpc) if args.grpc else ("mqtt", args.mqtt)
    host, port = parse_host_port(address, f"--{kind}")
    hub = start_embedded_hub(kind, host, port)
    print(f"feddeck {kind} hub listening on {hub.url} (Ctrl-C stops it)", file=sys.stderr)
    try:
        wait_for_signal()
    finally:
        hub.stop()
    return None


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("hub", parents=[common], help="run a standalone hub for remote edges")
    p.add_argument("--grpc", metavar="HOST:PORT", help="serve the gRPC hub, e.g. :50051")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="serve the embedded MQTT broker")
    p.set_defaults(handler=hub_run)
