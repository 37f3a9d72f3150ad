"""Hubs the control center (or `feddeck hub`) runs itself, on loopback by default."""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.errors import InvalidInput
from app.wire.hub import AccessPolicy, HubError
from app.wire.limits import WireLimits
from app.wire.transports import TRANSPORTS, embedded_kind


class PortTaken(HubError):
    """The hub's port is held by another process; the text names it where it can."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is held by {port_holder(port)}")
        self.port = port


@dataclass(frozen=True)
class ServerTls:
    """A hub's certificate and key; with `mutual`, clients must show one signed by `ca`."""

    ca: Path
    cert: Path
    key: Path
    mutual: bool = False


class EmbeddedHub(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def start_embedded_hub(
    kind: str,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: WireLimits | None = None,
    access: AccessPolicy | None = None,
    tls: ServerTls | None = None,
    bind_wait_s: float = 0.0,
) -> EmbeddedHub:
    """Start the hub of transport `kind` (app.wire.transports); returns it running.
    With `access`, every connection, publish and subscription is checked against it.
    `bind_wait_s`: how long to wait for a held port to come free (a hub restarted on its
    old port), before starting fails with PortTaken, naming what holds it."""
    transport = TRANSPORTS.get(kind)
    if transport is None or transport.server is None:
        served = ", ".join(n for n, t in TRANSPORTS.items() if t.server)
        raise InvalidInput(f"unknown embedded hub {kind!r}: use {served}")
    if port and transport.crosses_processes:
        wait_for_port(host, port, bind_wait_s)
        if not _port_free(host, port):
            raise PortTaken(host, port)
    serve = transport.load(transport.server)
    return serve(host, port, limits=limits, access=access, tls=tls)


def wait_for_port(host: str, port: int, wait_s: float) -> None:
    """Until `port` can be bound (or `wait_s` passes). Right after a hub stops, its port can
    be held a moment: a listener still closing, or a node's reconnect attempt that
    connected to itself on the free loopback port."""
    deadline = time.monotonic() + wait_s
    while not _port_free(host, port) and time.monotonic() < deadline:
        time.sleep(0.2)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the hubs' listeners
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
        return True


def port_holder(port: int) -> str:
    """'process 4242 (feddeck scheduler)': who listens on the TCP port, as far as this
    user may see."""
    import psutil

    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    break
                command = " ".join(psutil.Process(conn.pid).cmdline())
                return f"process {conn.pid} ({command[:160]})"
    except (psutil.Error, OSError):
        pass
    return "another process (not one this user may inspect)"


def start_or_join(
    kind: str, limits: WireLimits | None, access: AccessPolicy | None
) -> EmbeddedHub | None:
    """The control center's embedded hub on its fixed loopback port, or None when that
    port is taken (another control center, a second window, `feddeck hub`): the caller
    joins whatever serves it, and `connect_joined` says what holds it if that fails."""
    try:
        port = TRANSPORTS[kind].embedded_port or 0
        return start_embedded_hub(kind, "127.0.0.1", port, limits, access)
    except PortTaken:
        return None
    except OSError as exc:  # taken between the check and the bind
        if exc.errno != errno.EADDRINUSE:
            raise
        return None


def connect_joined(hub, hub_url: str, embedded: EmbeddedHub | None, timeout: float = 15) -> None:
    """Connect a node of this process to its hub. For an embedded hub this process could
    not start (`embedded` None: its port was taken), a failure says what holds the port."""
    try:
        hub.connect(timeout=timeout)
    except HubError as exc:
        kind = embedded_kind(hub_url)
        if embedded is not None or kind is None or not kind.crosses_processes:
            raise
        port = kind.embedded_port
        raise HubError(
            f"the embedded {kind.name} hub's port {port} is held by {port_holder(port)}, and no "
            f"FedDeck hub there let this node in ({exc}); stop that process, or choose "
            "another hub URL (--hub-url)"
        ) from None
