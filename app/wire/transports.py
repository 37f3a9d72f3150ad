"""Every hub transport by name: hub URLs, the embedded hubs, `feddeck hub run`, the demo's
`--backend`, the settings dialog and docs/hubs in README read this one list.

A transport's code lives in `app.backends.<name>` and is imported only by a node that uses
it, so an entry names its builders as "module:function" strings:
- `client(url, node_id, *, limits, token, will_topic) -> Hub`, with `url` a `HubUrl`;
- `server(host, port, *, limits, access, tls) -> EmbeddedHub`, a hub this process runs.
Adding a transport is its package under app/backends, one entry here, and its tests (the
hub conformance suite runs on every entry that can serve).
"""

from __future__ import annotations

import importlib
import socket
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

from app.errors import InvalidInput


@dataclass(frozen=True)
class Transport:
    name: str  # embedded://NAME, `feddeck hub run --NAME`, `feddeck demo --backend NAME`
    title: str
    scheme: str  # a client's URL scheme
    tls_scheme: str | None  # the same over TLS (?ca=&cert=&key=)
    client: str  # "module:function"
    server: str | None  # "module:function": a hub this process can run, or None
    embedded_port: int | None = None  # the fixed loopback port of embedded://NAME
    in_process: bool = False  # nodes of one process only (tests, simulation)
    ranks: bool = False  # the ranks of one job a cluster engine started: no host or port

    @property
    def crosses_processes(self) -> bool:
        return not self.in_process

    def load(self, builder: str):
        module, _, function = builder.partition(":")
        return getattr(importlib.import_module(module), function)


TRANSPORTS: dict[str, Transport] = {
    t.name: t
    for t in (
        Transport(
            "mqtt",
            "MQTT broker (embedded amqtt, Mosquitto, EMQX, …)",
            "mqtt",
            "mqtts",
            "app.backends.mqtt.client:hub_from_url",
            "app.backends.mqtt.embedded_broker:serve",
            18830,
        ),
        Transport(
            "grpc",
            "FedDeck gRPC hub",
            "grpc",
            "grpcs",
            "app.backends.grpc.client:hub_from_url",
            "app.backends.grpc.server:serve",
            50051,
        ),
        Transport(
            "mpi",
            "MPI ranks (mpirun): rank 0 routes",
            "mpi",
            None,
            "app.backends.mpi.client:hub_from_url",
            None,
            ranks=True,
        ),
        Transport(
            "trpc",
            "torch.distributed ranks (torchrun, srun), gloo: rank 0 routes",
            "trpc",
            None,
            "app.backends.trpc.client:hub_from_url",
            None,
            ranks=True,
        ),
        Transport(
            "local",
            "in-process router (tests, simulation)",
            "local",
            None,
            "app.backends.local:hub_from_url",
            "app.backends.local:serve",
            in_process=True,
        ),
    )
}

TLS_PARAMETERS = ("ca", "cert", "key")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now ("": on every interface)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class HubUrl:
    """A client hub URL taken apart: `local://NAME`, `mqtt://HOST:PORT`,
    `grpcs://HOST:PORT?ca=F&cert=F&key=F`."""

    text: str
    transport: Transport
    tls: bool
    host: str
    port: int | None
    files: dict[str, str]  # TLS files by parameter


def url_schemes() -> tuple[str, ...]:
    schemes = ["embedded"]
    for t in TRANSPORTS.values():
        schemes += [s for s in (t.scheme, t.tls_scheme) if s]
    return tuple(schemes)


def transport_of(scheme: str) -> tuple[Transport, bool] | None:
    """The transport a URL scheme names, and whether it is the TLS one."""
    for t in TRANSPORTS.values():
        if scheme in (t.scheme, t.tls_scheme):
            return t, scheme == t.tls_scheme
    return None


def embedded_kind(url: str) -> Transport | None:
    """The transport of an `embedded://NAME` URL; None for any other URL."""
    parsed = urlparse(url)
    if parsed.scheme != "embedded":
        return None
    if parsed.netloc not in embeddable():
        names = ", ".join(f"embedded://{n}" for n in embeddable())
        raise InvalidInput(f"hub URL {url!r}: an embedded hub is one of {names}")
    return TRANSPORTS[parsed.netloc]


def embeddable() -> dict[str, Transport]:
    """The transports a control center can run itself, as embedded://NAME."""
    return {
        n: t
        for n, t in TRANSPORTS.items()
        if t.server and (t.in_process or t.embedded_port is not None)
    }


def parse_hub_url(url: str) -> HubUrl:
    """A client URL, checked: its scheme, host and port, and TLS parameters."""
    parsed = urlparse(url)
    found = transport_of(parsed.scheme)
    if found is None:
        raise InvalidInput(f"hub URL {url!r}: scheme must be one of {', '.join(url_schemes())}")
    transport, tls = found
    port = None
    if transport.crosses_processes and not transport.ranks:
        if not parsed.hostname:
            raise InvalidInput(f"hub URL {url!r} has no host")
        try:
            port = parsed.port
        except ValueError as exc:
            raise InvalidInput(f"hub URL {url!r} has an invalid port") from exc
        if port is None:
            raise InvalidInput(f"hub URL {url!r} has no port")
    params = parse_qs(parsed.query)
    unknown = set(params) - set(TLS_PARAMETERS)
    if unknown:
        raise InvalidInput(f"hub URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
    files = {k: v[-1] for k, v in params.items()}
    if transport.ranks:
        host = parsed.netloc or "world"
    elif transport.crosses_processes:
        host = parsed.hostname or ""
    else:
        host = parsed.netloc or "default"
    return HubUrl(url, transport, tls, host, port, files)


def validate_hub_url(url: str) -> str:
    """A hub URL as settings hold it: embedded://NAME or a client URL (not a rank
    transport's: those exist only among the ranks of one job)."""
    if embedded_kind(url) is None and parse_hub_url(url).transport.ranks:
        raise InvalidInput(
            f"hub URL {url!r}: {urlparse(url).scheme}:// links the ranks of one cluster job "
            "and cannot be a control center's hub; give the hub the ranks report to"
        )
    return url


def client_url(hub_url: str) -> str:
    """The URL a node connects to for a configured hub URL (embedded → its loopback address)."""
    kind = embedded_kind(hub_url)
    if kind is None:
        return hub_url
    if not kind.crosses_processes:
        return f"{kind.scheme}://default"
    return f"{kind.scheme}://127.0.0.1:{kind.embedded_port}"
