"""`feddeck hub ...`: long-running processes of the FL network."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from app.cli.context import CliContext
from app.cli.output import round_progress
from app.config import EDGE_TOKEN_ENV
from app.errors import InvalidInput
from app.wire.hub import HubError
from app.wire.transports import TRANSPORTS, client_url, parse_hub_url


def parse_host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{what} {value!r} must be HOST:PORT (or :PORT), port 1-65535")
    return host or "0.0.0.0", int(port)


def wait_for_signal() -> None:
    stop = threading.Event()
    on_stop_signals(stop.set)
    stop.wait()


def on_stop_signals(callback) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: callback())


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
        example = f"e.g. :{transport.embedded_port}"
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
        args.run,
        args.hub or ctx.settings.hub_url,
        resume=args.resume,
        on_server=stop_on_signals,
    )
    if outcome.state == "FAILED":
        raise RunFailed(f"run {args.run} failed: {outcome.reason}")
    return {
        "run_id": args.run,
        "state": outcome.state,
        "rounds": outcome.rounds_done,
        "test_accuracy": outcome.test_accuracy,
    }


class RunFailed(InvalidInput):
    pass


def server_standby(ctx: CliContext, args: argparse.Namespace):
    """An FL server started ahead of need (by the launcher): torch, the task runtime, the
    hub client and the database are ready before the run is. It then reads its run from
    stdin, one JSON line: {"run": ID, "resume": BOOL, "log": PATH}, moves its output to
    the run's log and serves it. Stdin closing first means the launcher is gone: it ends."""
    import importlib
    import json

    from app.core.warmup import warm_up

    problem = None
    try:
        transport = parse_hub_url(client_url(args.hub or ctx.settings.hub_url)).transport
        # the server, and the transport's client library (grpcio or paho)
        modules = ["app.core.server", "app.services.runs.serving"]
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
        run, resume, log_file = int(order["run"]), bool(order.get("resume")), str(order["log"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"standby server: a malformed run order {line[:200]!r}: {exc}") from None
    _output_to(log_file)
    if problem is not None:
        raise problem
    args.run, args.resume = run, resume
    return server_run(ctx, args)


def _output_to(path: str) -> None:
    """This process's stdout and stderr appended to `path` from now on."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


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
    agent.start()  # a signal while connecting ends the process at once (default handlers)
    on_stop_signals(agent.request_stop)
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


def demo_run(ctx: CliContext, args: argparse.Namespace):
    from app.services.runs.demo import DemoOptions, run_demo

    if not args.headless:
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
    )

    progress = None if ctx.as_json else round_progress(args.rounds)
    return run_demo(ctx.settings, options, on_event=progress)


def register_runtime(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("server", parents=[common], help="FL server process for one run")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=int, help="job id")
    which.add_argument(
        "--standby", action="store_true", help="get ready, then read the run from stdin"
    )
    p.add_argument("--hub", help="hub URL (default: the configured hub)")
    p.add_argument("--resume", action="store_true", help="continue after the last aggregated round")
    p.set_defaults(
        handler=lambda ctx, a: (server_standby if a.standby else server_run)(ctx, a),
        quick_exit=True,
    )

    p = sub.add_parser("demo", parents=[common], help="local demo cluster with one FedAvg run")
    p.add_argument("--headless", action="store_true", help="no window; print progress")
    p.add_argument("--edges", type=int, default=4)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--backend", choices=list(TRANSPORTS), default="mqtt")
    p.add_argument("--heartbeat", type=float, default=1.0)
    p.add_argument(
        "--device", default="auto", help="where edges train: auto (a GPU if any), cpu, cuda[:N]"
    )
    p.set_defaults(handler=demo_run, exit_by_status=True)
