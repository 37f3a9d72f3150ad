"""A node killed without a goodbye is announced OFFLINE by its hub: the broker's MQTT last
will, or the gRPC hub when the node's stream is lost. A clean close announces nothing."""

import signal
import subprocess
import sys
import time

import pytest

from app.wire.messages import MessageType
from tests.hubs.conftest import wait_for

CHILD = """
import sys, time
from app.backends.factory import create_hub
hub = create_hub(sys.argv[1], "edge-7", will_topic="fd/p/edge/edge-7/status")
hub.connect()
print("ready", flush=True)
if sys.argv[2] == "close":
    hub.close()
    print("closed", flush=True)
time.sleep(120)
"""

HUBS = ["mqtt-embedded", "mosquitto", "grpc-embedded"]


def _statuses_seen(hub_env) -> list:
    """(topic, message) of every edge status the hub routes from now on."""
    seen: list = []
    hub_env.make("center").subscribe("fd/p/edge/+/status", lambda t, m: seen.append((t, m)))
    return seen


def _offline_after(hub_env, sig: int, timeout: float) -> tuple[list, float]:
    """Signal a connected node (SIGKILL: it vanishes; SIGSTOP: it falls silent) and wait
    for the statuses its hub announces; returns them and how long the first took."""
    seen = _statuses_seen(hub_env)
    child = _child(hub_env.url, "stay")
    try:
        child.send_signal(sig)
        signalled = time.monotonic()
        wait_for(lambda: seen, timeout, "the node's OFFLINE status")
        return seen, time.monotonic() - signalled
    finally:
        child.kill()
        child.wait()


def _child(url: str, mode: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, mode], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    return child


@pytest.mark.parametrize("hub_env", HUBS, indirect=True)
def test_killed_node_is_announced_offline(hub_env):
    seen, took = _offline_after(hub_env, signal.SIGKILL, 20)
    topic, message = seen[0]
    assert topic == "fd/p/edge/edge-7/status"
    assert message.type == MessageType.STATUS and message.body == {"state": "OFFLINE"}
    assert message.sender == "edge-7"
    if hub_env.name == "grpc-embedded":  # the lost stream is seen at once, not by a keepalive
        assert took < 5, f"the gRPC hub took {took:.1f} s to announce the lost node"


@pytest.mark.parametrize("hub_env", HUBS, indirect=True)
def test_a_clean_close_leaves_no_will(hub_env):
    seen = _statuses_seen(hub_env)
    child = _child(hub_env.url, "close")
    try:
        assert child.stdout.readline().strip() == "closed"
        child.kill()
        probe = hub_env.make("probe")
        probe.publish("fd/p/edge/probe/status", _status("IDLE"))
        wait_for(lambda: any(m.sender == "probe" for _t, m in seen), 10, "the probe")
    finally:
        child.kill()
        child.wait()
    assert [m.sender for _t, m in seen] == ["probe"]


def test_grpc_hub_refuses_a_will_on_another_nodes_topic(tmp_path):
    """The will is checked like a publish: an edge may not leave one for another edge."""
    from app.backends.factory import create_hub
    from app.backends.grpc.server import GrpcHubServer
    from app.wire.hub import HubError

    class OwnTopicsOnly:
        def authenticate(self, node_id, token):
            return node_id

        def may_publish(self, principal, topic):
            return topic.startswith(f"fd/edge/{principal}/")

        def may_subscribe(self, principal, pattern):
            return True

        def still_valid(self, principal):
            return True

    with GrpcHubServer(access=OwnTopicsOnly()) as server:
        ok = create_hub(server.url, "e1", token="t", will_topic="fd/edge/e1/status")
        ok.connect(timeout=10)
        ok.close()
        bad = create_hub(server.url, "e1", token="t", will_topic="fd/edge/e2/status")
        with pytest.raises(HubError, match="may not leave a will on fd/edge/e2/status"):
            bad.connect(timeout=10)
        bad.close()


def _status(state: str):
    from app.wire.messages import Message

    return Message(MessageType.STATUS, body={"state": state})


@pytest.mark.slow
@pytest.mark.parametrize("hub_env", ["grpc-embedded"], indirect=True)
def test_a_silent_node_is_announced_offline_by_keepalive(hub_env):
    """A node that stops answering (SIGSTOP: its connection stays open) is cut by the
    hub's keepalive, a ping every 10 s answered within 5 s, and announced OFFLINE."""
    seen, took = _offline_after(hub_env, signal.SIGSTOP, 40)
    assert seen[0][1].body == {"state": "OFFLINE"} and seen[0][1].sender == "edge-7"
    assert took < 25, f"the silent node was announced after {took:.1f} s"
