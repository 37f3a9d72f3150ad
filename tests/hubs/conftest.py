"""Every hub backend behind one fixture, so one conformance suite runs against all of them."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field

import pytest

from app.backends.embedded import wait_for_port
from app.backends.factory import create_hub
from app.wire.chunking import WireLimits
from app.wire.hub import Hub, HubState
from bench.processes import Mosquitto

BACKENDS = ["local", "mqtt-embedded", "mosquitto", "grpc"]


@dataclass
class HubEnv:
    name: str
    url: str
    restart_fn: object
    stop_fn: object
    limits: WireLimits = field(default_factory=WireLimits)
    hubs: list[Hub] = field(default_factory=list)

    def make(self, node_id: str | None = None, connect: bool = True, **kw) -> Hub:
        hub = create_hub(self.url, node_id or f"n{uuid.uuid4().hex[:6]}", limits=self.limits, **kw)
        self.hubs.append(hub)
        if connect:
            hub.connect(timeout=15)
        return hub

    def restart(self) -> None:
        self.restart_fn()

    def close(self) -> None:
        for hub in self.hubs:
            hub.close()
        self.stop_fn()


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_connected(*hubs: Hub, timeout: float = 30.0) -> None:
    wait_for(lambda: all(h.state == HubState.CONNECTED for h in hubs), timeout, "reconnect")


@pytest.fixture(params=BACKENDS)
def hub_env(request, tmp_path):
    kind = request.param
    if kind == "local":
        from app.backends.local import router

        name = f"t{uuid.uuid4().hex[:8]}"
        env = HubEnv(kind, f"local://{name}", router(name).restart, lambda: None)
    elif kind == "mqtt-embedded":
        from app.backends.mqtt.embedded_broker import EmbeddedMqttBroker

        broker = EmbeddedMqttBroker().start()

        def restart():
            broker.stop()
            wait_for_port(broker.host, broker.port, 10.0)
            broker.start()

        env = HubEnv(kind, broker.url, restart, broker.stop)
    elif kind == "mosquitto":
        if shutil.which("mosquitto") is None:
            pytest.skip("mosquitto is not installed (`.ci/run` installs it)")
        broker = Mosquitto(tmp_path).start()

        def restart():
            broker.stop()
            wait_for_port("127.0.0.1", broker.port, 10.0)
            broker.start()

        env = HubEnv(kind, broker.url, restart, broker.stop)
    else:
        from app.backends.grpc.server import GrpcHubServer

        servers = [GrpcHubServer().start()]

        def restart():
            port = servers[0].port
            servers[0].stop(grace=0)
            wait_for_port("127.0.0.1", port, 10.0)
            servers[0] = GrpcHubServer(port=port).start()

        env = HubEnv(kind, servers[0].url, restart, lambda: servers[0].stop(grace=0))
    yield env
    env.close()
