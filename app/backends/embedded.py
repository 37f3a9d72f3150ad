"""Hubs the control center (or `feddeck hub`) runs itself, on loopback by default."""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.errors import InvalidInput
from app.wire.hub import AccessPolicy
from app.wire.limits import WireLimits


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
    old port), before starting fails with the port named."""
    if port and kind != "local":
        wait_for_port(host, port, bind_wait_s)
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
