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
    """Start an MQTT broker (amqtt), a gRPC hub, or a local router; returns it running.
    With `access`, every connection, publish and subscription is checked against it.
    `bind_wait_s`: how long to wait for a held port to come free (a hub restarted on its
    old port), before starting fails with PortTaken, naming what holds it."""
    if port and kind != "local":
        wait_for_port(host, port, bind_wait_s)
        if not _port_free(host, port):
            raise PortTaken(host, port)
    if kind == "mqtt":
        from app.backends.mqtt.embedded_broker import EmbeddedMqttBroker

        return EmbeddedMqttBroker(host, port, access, tls).start()
    if kind == "grpc":
        from app.backends.grpc.server import GrpcHubServer

        credentials = None
        if tls is not None:
            import grpc

            credentials = grpc.ssl_server_credentials(
                [(tls.key.read_bytes(), tls.cert.read_bytes())],
                root_certificates=tls.ca.read_bytes() if tls.mutual else None,
                require_client_auth=tls.mutual,
            )
        return GrpcHubServer(
            host, port, limits=limits, access=access, server_credentials=credentials
        ).start()
    if kind == "local":
        return _LocalEmbedded()
    raise InvalidInput(f"unknown embedded hub {kind!r}: use mqtt, grpc or local")


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
        return start_embedded_hub(kind, "127.0.0.1", EMBEDDED_PORTS[kind], limits, access)
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
        kind = hub_url.removeprefix("embedded://")
        if embedded is not None or not hub_url.startswith("embedded://"):
            raise
        port = EMBEDDED_PORTS[kind]
        raise HubError(
            f"the embedded {kind} hub's port {port} is held by {port_holder(port)}, and no "
            f"FedDeck hub there let this node in ({exc}); stop that process, or choose "
            "another hub URL (--hub-url)"
        ) from None


class _LocalEmbedded:
    url = "local://default"

    def stop(self) -> None:
        pass


# Fixed loopback ports for the control center's embedded hub, so that edge agents started
# by hand (`feddeck edge --hub mqtt://127.0.0.1:18830 ...`) find it.
EMBEDDED_PORTS = {"mqtt": 18830, "grpc": 50051}


def client_url(hub_url: str) -> str:
    """The URL a node connects to for a configured hub URL (embedded → its loopback address)."""
    if not hub_url.startswith("embedded://"):
        return hub_url
    kind = hub_url.removeprefix("embedded://")
    if kind == "local":
        return "local://default"
    return f"{kind}://127.0.0.1:{EMBEDDED_PORTS[kind]}"
