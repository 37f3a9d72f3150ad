"""A server-free run's inboxes on a guarded hub (embedded MQTT, gRPC, a real Mosquitto on
generated files): an edge reaches only its out-neighbours' inboxes, as itself, and reads
only what its in-neighbours push to it."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from app.backends.embedded import start_embedded_hub
from app.backends.factory import create_hub
from app.config import Settings
from app.services import Services
from app.services.security.auth import SYSTEM
from app.services.security.hub_access import HubAccess
from app.services.security.mosquitto_config import write_mosquitto_config
from app.wire import topics
from app.wire.hub import HubError
from app.wire.messages import Message, MessageType
from tests.helpers import SAMPLE_CONFIG
from tests.hubs.conftest import wait_for
from tests.servers import Mosquitto

# a ring x → y → z → x
PEER_CONFIG = {
    **SAMPLE_CONFIG,
    "name": "ring",
    "algorithm": {"name": "pushsum"},
    "decentralized": {"graph": "links", "links": [["x", "y"], ["y", "z"], ["z", "x"]]},
}


@pytest.fixture(params=["mqtt", "grpc", "mosquitto"])
def ring(request, tmp_path):
    settings = Settings.load(data_dir=tmp_path)
    services = Services.open(settings)
    services.groups.add(SYSTEM, "g")
    services.projects.create(SYSTEM, "p", "g")
    services.configs.save_dict(SYSTEM, PEER_CONFIG)
    edges = {n: services.edges.register(SYSTEM, n) for n in ("x", "y", "z")}
    job = services.jobs.create(SYSTEM, "r", "p", "ring", ["x", "y", "z"]).id
    cleanup = []
    if request.param == "mosquitto":
        if shutil.which("mosquitto") is None:
            pytest.skip("mosquitto is not installed (`.ci/run` installs it)")
        hub = Mosquitto(tmp_path)
        mosq = Path(tempfile.mkdtemp(prefix="feddeck-mosq-"))
        mosq.chmod(0o755)
        cleanup.append(lambda: shutil.rmtree(mosq, ignore_errors=True))
        hub.conf = Path(write_mosquitto_config(services.db, settings, mosq, hub.port)["config"])
        hub.start()
    else:
        access = HubAccess.for_settings(services.db, settings)
        hub = start_embedded_hub(request.param, access=access)
    opened = []

    def connect(node, token):
        client = create_hub(hub.url, node, token=token)
        opened.append(client)
        client.connect(timeout=10)
        return client

    def inbox(to, sender):
        return topics.inbox_topic("p", job, edges[to].edge.device_id, edges[sender].edge.device_id)

    yield {"kind": request.param, "connect": connect, "edges": edges, "inbox": inbox,
           "token": settings.hub_token}  # fmt: skip
    for client in opened:
        client.close()
    hub.stop()
    services.close()
    for undo in cleanup:
        undo()


def as_edge(ring, name):
    return ring["connect"](ring["edges"][name].edge.device_id, ring["edges"][name].token)


def test_an_edge_pushes_only_to_its_out_neighbours_as_itself(ring):
    watcher = ring["connect"]("watcher", ring["token"])
    seen: list[str] = []
    watcher.subscribe("fd/#", lambda topic, m: seen.append(topic))
    x = as_edge(ring, "x")
    inbox = ring["inbox"]
    forged = [
        inbox("z", "x"),  # z is not x's out-neighbour (z → x, not x → z)
        inbox("y", "z"),  # y's inbox, posing as z
        inbox("x", "x"),  # its own inbox
    ]
    for topic in forged:
        x.publish(topic, Message(MessageType.PEER_MODEL, body={"forged": True}))
    honest = inbox("y", "x")
    x.publish(honest, Message(MessageType.PEER_MODEL, body={"weight": 1.0}))
    wait_for(lambda: honest in seen, 10, "the push to its out-neighbour")
    time.sleep(0.5)  # anything forged would have arrived with or before it
    assert not set(forged) & set(seen)


def test_an_edge_reads_only_its_in_neighbours_pushes(ring):
    inbox = ring["inbox"]
    leaked: list[str] = []
    for pattern in [inbox("y", "x"), inbox("x", "y")]:  # y's inbox; x's from a non-neighbour
        probe = as_edge(ring, "z")
        try:  # the embedded hubs refuse the subscription; Mosquitto grants it, sends nothing
            probe.subscribe(pattern, lambda t, m: leaked.append(t))
        except HubError:
            assert ring["kind"] != "mosquitto"
    y = as_edge(ring, "y")
    got: list[str] = []
    y.subscribe(inbox("y", "x"), lambda t, m: got.append(t))
    x = as_edge(ring, "x")
    x.publish(inbox("y", "x"), Message(MessageType.PEER_MODEL, body={"weight": 1.0}))
    watcher = ring["connect"]("watcher", ring["token"])
    watcher.publish(inbox("x", "y"), Message(MessageType.PEER_MODEL, body={"weight": 1.0}))
    wait_for(lambda: got, 10, "y's push from x")
    time.sleep(0.5)
    assert got == [inbox("y", "x")]
    assert not leaked
