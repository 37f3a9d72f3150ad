"""A node killed without a goodbye is announced OFFLINE by the broker (MQTT last will)."""

import subprocess
import sys

import pytest

from app.wire.messages import MessageType
from tests.hubs.conftest import wait_for

CHILD = """
import sys, time
from app.backends.factory import create_hub
hub = create_hub(sys.argv[1], "edge-7", will_topic="fd/p/edge/edge-7/status")
hub.connect()
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("hub_env", ["mqtt-embedded", "mosquitto"], indirect=True)
def test_killed_node_is_announced_offline(hub_env):
    seen = []
    watcher = hub_env.make("center")
    watcher.subscribe("fd/p/edge/+/status", lambda t, m: seen.append((t, m)))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, hub_env.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child.kill()
        wait_for(lambda: seen, 20, "the last will")
    finally:
        child.kill()
        child.wait()
    topic, message = seen[0]
    assert topic == "fd/p/edge/edge-7/status"
    assert message.type == MessageType.STATUS and message.body == {"state": "OFFLINE"}
    assert message.sender == "edge-7"
