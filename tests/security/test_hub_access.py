"""Attacks on the hubs FedDeck runs, tried for real on the embedded MQTT broker and the
gRPC hub: wrong or revoked tokens, posing as another node, reading another project."""

from __future__ import annotations

import shutil
import signal
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
from app.wire.hub import HubError, HubState
from app.wire.messages import Message, MessageType
from tests.helpers import SAMPLE_CONFIG
from tests.hubs.conftest import wait_for
from tests.servers import Mosquitto


@pytest.fixture(params=["mqtt", "grpc", "mosquitto"])
def lab(request, tmp_path):
    """Two projects, one run each; edge A in p1's run, edge B in p2's; a guarded hub: an
    embedded one, or a real Mosquitto on `feddeck hub mosquitto-config`'s files."""
    settings = Settings.load(data_dir=tmp_path)
    services = Services.open(settings)
    for name in ("p1", "p2"):
        services.groups.add(SYSTEM, name)
        services.projects.create(SYSTEM, name, name)
    services.configs.save_dict(SYSTEM, {**SAMPLE_CONFIG, "training": {"min_clients": 1}})
    edges = {n: services.edges.register(SYSTEM, n) for n in ("a", "b")}
    runs = {
        "a": services.jobs.create(SYSTEM, "ra", "p1", "digits-mlp", ["a"]).id,
        "b": services.jobs.create(SYSTEM, "rb", "p2", "digits-mlp", ["b"]).id,
    }
    cleanup = []
    if request.param == "mosquitto":
        if shutil.which("mosquitto") is None:
            pytest.skip("mosquitto is not installed (`.ci/run` installs it)")
        hub = Mosquitto(tmp_path)
        # As a lab runs it: started by root, Mosquitto turns into user `mosquitto` before it
        # reads the password and ACL files, so they sit where that user can reach them.
        mosq = Path(tempfile.mkdtemp(prefix="feddeck-mosq-"))
        mosq.chmod(0o755)
        cleanup.append(lambda: shutil.rmtree(mosq, ignore_errors=True))
        hub.conf = Path(write_mosquitto_config(services.db, settings, mosq, hub.port)["config"])
        hub.start()
    else:
        access = HubAccess.for_settings(services.db, settings)
        hub = start_embedded_hub(request.param, access=access)
    opened = []

    def connect(node, token, timeout=10.0):
        client = create_hub(hub.url, node, token=token)
        opened.append(client)
        client.connect(timeout=timeout)
        return client

    yield {
        "kind": request.param,
        "hub": hub,
        "settings": settings,
        "tmp": tmp_path,
        "mosq": hub.conf.parent if request.param == "mosquitto" else None,
        "services": services,
        "token": settings.hub_token,
        "edges": edges,
        "runs": runs,
        "connect": connect,
    }
    for client in opened:
        client.close()
    hub.stop()
    services.close()
    for undo in cleanup:
        undo()


def device(lab, name):
    return lab["edges"][name].edge.device_id


def run_topic(lab, name, node, kind):
    project = "p1" if name == "a" else "p2"
    return topics.run_topic(project, lab["runs"][name], node, kind)


def test_wrong_missing_and_borrowed_tokens_are_refused(lab):
    a, b = device(lab, "a"), device(lab, "b")
    for node, token in [(a, None), (a, f"{a}.not-the-secret"), (a, "garbage")]:
        with pytest.raises(HubError):
            lab["connect"](node, token, timeout=3)
    if lab["kind"] == "grpc":  # MQTT takes the node from the token itself
        with pytest.raises(HubError, match="used to connect as"):
            lab["connect"](a, lab["edges"]["b"].token, timeout=3)
    assert lab["connect"](b, lab["edges"]["b"].token).state == HubState.CONNECTED


def test_an_edge_cannot_pose_as_another_node_or_read_another_project(lab):
    a, b = device(lab, "a"), device(lab, "b")
    watcher = lab["connect"]("watcher", lab["token"])
    seen: list[str] = []
    watcher.subscribe("fd/#", lambda topic, m: seen.append(topic))
    edge = lab["connect"](a, lab["edges"]["a"].token)
    forged = [
        topics.edge_topic(b, "status"),  # another edge's status
        run_topic(lab, "a", topics.SERVER, "model/down"),  # the server of its own run
        run_topic(lab, "a", b, "model/up"),  # an update in another edge's name
        run_topic(lab, "b", a, "model/up"),  # a run it is not in
        topics.edge_topic(a, "control"),  # orders to itself
    ]
    for topic in forged:
        edge.publish(topic, Message(MessageType.DATA, body={"forged": True}))
    honest = run_topic(lab, "a", a, "metrics")
    edge.publish(honest, Message(MessageType.DATA, body={"ok": True}))
    wait_for(lambda: honest in seen, 10, "the edge's own publication")
    time.sleep(0.5)  # anything forged would have arrived with or before it
    assert not set(forged) & set(seen)

    secrets_ = [
        run_topic(lab, "b", topics.SERVER, "model/down"),  # another project's model
        topics.edge_topic(b, "control"),  # another edge's orders
    ]
    leaked: list[str] = []
    for pattern in [*secrets_, "fd/#"]:
        probe = lab["connect"](a, lab["edges"]["a"].token)
        try:  # the embedded hubs refuse the subscription; Mosquitto grants it, sends nothing
            probe.subscribe(pattern, lambda t, m: leaked.append(t))
        except HubError:
            assert lab["kind"] != "mosquitto"
    own = lab["connect"](a, lab["edges"]["a"].token)
    got = []
    own.subscribe(run_topic(lab, "a", topics.SERVER, "model/down"), lambda t, m: got.append(m))
    for topic in secrets_:
        watcher.publish(topic, Message(MessageType.DATA))
    watcher.publish(run_topic(lab, "a", topics.SERVER, "model/down"), Message(MessageType.DATA))
    wait_for(lambda: got, 10, "its own run's model")
    time.sleep(0.5)
    assert not set(leaked) & set(secrets_)  # (its own run it may read, even via fd/#)


@pytest.mark.slow
def test_a_removed_edge_is_cut_off_and_kept_out(lab):
    a = device(lab, "a")
    if lab["kind"] == "mosquitto":  # Mosquitto learns of it from regenerated files + HUP
        lab["services"].edges.remove(SYSTEM, "a")
        write_mosquitto_config(lab["services"].db, lab["settings"], lab["mosq"], lab["hub"].port)
        lab["hub"].proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        with pytest.raises(HubError):
            lab["connect"](a, lab["edges"]["a"].token, timeout=3)
        return
    edge = lab["connect"](a, lab["edges"]["a"].token)
    lab["services"].edges.remove(SYSTEM, "a")
    wait_for(lambda: edge.state != HubState.CONNECTED, 15, "the revoked edge to be dropped")
    time.sleep(2.5)  # and it does not get back in by reconnecting
    assert edge.state != HubState.CONNECTED
    with pytest.raises(HubError):
        lab["connect"](a, lab["edges"]["a"].token, timeout=3)
