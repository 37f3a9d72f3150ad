"""`feddeck hub` and `feddeck certs`: a hub for remote edges, and the CA for its TLS."""

from __future__ import annotations

import argparse
import sys

from app.cli.context import CliContext
from app.cli.signals import wait_for_signal
from app.errors import InvalidInput
from app.wire.transports import TRANSPORTS


def parse_host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{what} {value!r} must be HOST:PORT (or :PORT), port 1-65535")
    return host or "0.0.0.0", int(port)


def hub_run(ctx: CliContext, args: argparse.Namespace):
    from app.backends.embedded import start_embedded_hub

    given = [(name, getattr(args, name)) for name in _served() if getattr(args, name)]
    if len(given) != 1:
        flags = " or ".join(f"--{name} HOST:PORT" for name in _served())
        raise InvalidInput(f"give exactly one of {flags}")
    kind, address = given[0]
    host, port = parse_host_port(address, f"--{kind}")
    access = None
    if not args.open:
        from app.services.security.hub_access import HubAccess

        access = HubAccess.for_settings(ctx.services.db, ctx.settings)
    tls = None
    if args.tls:
        from pathlib import Path

        from app.services.security.certs import server_tls

        tls = server_tls(Path(args.tls), mutual=args.mutual)
    elif args.mutual:
        raise InvalidInput("--mutual needs --tls DIR")
    hub = start_embedded_hub(
        kind, host, port, ctx.settings.wire, access=access, tls=tls, bind_wait_s=5.0
    )
    who = "anyone (--open)" if access is None else "registered edges and this data dir's services"
    print(f"feddeck {kind} hub on {hub.url} for {who}; Ctrl-C stops it", file=sys.stderr)
    try:
        wait_for_signal()
    finally:
        hub.stop()
    return None


def hub_mosquitto_config(ctx: CliContext, args: argparse.Namespace):
    from pathlib import Path

    from app.services.security.mosquitto_config import write_mosquitto_config

    ctx.actor()  # writing every edge's credentials is for signed-in users only
    host, port = parse_host_port(args.listen, "--listen")
    result = write_mosquitto_config(ctx.services.db, ctx.settings, Path(args.dir), port, host)
    if not ctx.as_json:
        print(
            f"run: mosquitto -c {result['config']}   (kill -HUP it after re-running)",
            file=sys.stderr,
        )
        if host in ("127.0.0.1", "localhost", "::1"):
            print(
                f"it listens on {host}:{port}, this machine only; for edges elsewhere give "
                f"--listen with an address they reach (0.0.0.0:{port}: every interface)",
                file=sys.stderr,
            )
        if result["edges_without_mqtt_password"]:
            names = ", ".join(result["edges_without_mqtt_password"])
            print(
                f"left out (no MQTT password yet; `feddeck edge token NAME`): {names}",
                file=sys.stderr,
            )
    return result


def certs_init(ctx: CliContext, args: argparse.Namespace):
    from pathlib import Path

    from app.services.security.certs import init_certs

    return init_certs(
        Path(args.dir), args.host or ["localhost", "127.0.0.1"], args.client, args.force
    )


def _served() -> dict:
    """The transports `feddeck hub run` can serve to other processes."""
    return {n: t for n, t in TRANSPORTS.items() if t.server and t.crosses_processes}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    certs = sub.add_parser("certs", help="a local CA for TLS").add_subparsers(required=True)
    p = certs.add_parser("init", parents=[common], help="CA, hub and client certificates")
    p.add_argument("dir")
    p.add_argument("--host", action="append", default=[], help="hub name or IP (repeatable)")
    p.add_argument("--client", action="append", default=[], help="client cert (repeatable)")
    p.add_argument("--force", action="store_true", help="replace an existing CA")
    p.set_defaults(handler=certs_init)
    p = sub.add_parser("hub", parents=[common], help="run a standalone hub for remote edges")
    for name, transport in _served().items():
        example = f"e.g. :{transport.embedded_port or 5000}"
        p.add_argument(f"--{name}", metavar="HOST:PORT", help=f"serve a {name} hub here, {example}")
    p.add_argument(
        "--open", action="store_true", help="no authentication (loopback experiments only)"
    )
    p.add_argument("--tls", metavar="DIR", help="serve TLS with DIR/server.pem (certs init)")
    p.add_argument("--mutual", action="store_true", help="with --tls: require client certs")
    p.set_defaults(handler=hub_run)
    hub = p.add_subparsers(required=False, metavar="{mosquitto-config}")
    q = hub.add_parser(
        "mosquitto-config",
        parents=[common],
        help="password and ACL files for an external Mosquitto, from the database",
    )
    q.add_argument("dir", help="folder to write mosquitto.conf, passwords and acl into")
    q.add_argument(
        "--listen",
        default="127.0.0.1:1883",
        metavar="HOST:PORT",
        help="where the broker listens (default 127.0.0.1:1883, this machine only)",
    )
    q.set_defaults(handler=hub_mosquitto_config)
