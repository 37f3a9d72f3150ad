"""Every hub backend behind one fixture, so one conformance suite runs against all of them."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest

from app.backends.embedded import start_embedded_hub, wait_for_port
from app.backends.factory import create_hub
from app.wire.chunking import WireLimits
from app.wire.hub import Hub, HubState
from app.wire.transports import TRANSPORTS
from tests.servers import Mosquitto
from tests.waiting import wait_until

# Every transport of the registry that can run a hub here, and a real Mosquitto.
SERVED = [n for n, t in TRANSPORTS.items() if t.server and t.crosses_processes]
BACKENDS = ["local", *(f"{n}-embedded" for n in SERVED), "mosquitto"]
# The rank transports' nodes live in a job a cluster engine started: test_rank_hubs runs
# this suite as rank 1 of `mpirun` or `torchrun`, beside a rank 0 that only routes.
if "OMPI_COMM_WORLD_SIZE" in os.environ:
    BACKENDS = ["mpi"]
elif "TORCHELASTIC_RUN_ID" in os.environ:
    BACKENDS = ["trpc"]


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
    wait_until(predicate, timeout, what, interval=0.02)


def wait_connected(*hubs: Hub, timeout: float = 30.0) -> None:
    wait_for(lambda: all(h.state == HubState.CONNECTED for h in hubs), timeout, "reconnect")


@pytest.fixture(params=BACKENDS)
def hub_env(request, tmp_path):
    kind = request.param
    if kind == "local":
        from app.backends.local import router

        name = f"t{uuid.uuid4().hex[:8]}"
        env = HubEnv(kind, f"local://{name}", router(name).restart, lambda: None)
    elif kind in ("mpi", "trpc"):

        def restart():
            pytest.skip("rank 0 of a cluster job is its hub: it ends with the job, never restarts")

        env = HubEnv(kind, f"{kind}://world", restart, lambda: None)
    elif kind == "mosquitto":
        if shutil.which("mosquitto") is None:
            pytest.skip("mosquitto is not installed (`.ci/run` installs it)")
        broker = Mosquitto(tmp_path).start()

        def restart():
            broker.stop()
            wait_for_port("127.0.0.1", broker.port, 10.0)
            broker.start()

        env = HubEnv(kind, broker.url, restart, broker.stop)
    else:  # a transport's own hub, started and restarted as the control center does
        name = kind.removesuffix("-embedded")
        hubs = [start_embedded_hub(name)]

        def restart():
            port = urlparse(hubs[0].url).port
            hubs[0].stop()
            wait_for_port("127.0.0.1", port, 10.0)
            hubs[0] = start_embedded_hub(name, port=port)

        env = HubEnv(kind, hubs[0].url, restart, lambda: hubs[0].stop())
    yield env
    env.close()
