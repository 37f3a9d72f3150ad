"""The embedded broker gives its port back even when amqtt's own shutdown fails, and a hub
started on a port still held waits for it instead of failing at once."""

import os
import socket
import threading
import time

import pytest

from app.backends.embedded import start_embedded_hub
from app.backends.factory import create_hub
from app.backends.mqtt.embedded_broker import EmbeddedMqttBroker
from app.wire.hub import HubError, HubState
from tests.hubs.conftest import wait_for


def test_port_is_released_when_the_broker_shutdown_fails(caplog):
    broker = EmbeddedMqttBroker().start()
    node = create_hub(broker.url, "node")
    node.connect()

    async def broken_shutdown():
        raise RuntimeError("broadcast loop stopped")

    broker._broker.shutdown = broken_shutdown
    broker.stop()
    assert "broadcast loop stopped" in caplog.text
    again = start_embedded_hub("mqtt", "127.0.0.1", broker.port)  # no wait needed
    try:
        wait_for(lambda: node.state == HubState.CONNECTED, 30, "reconnect to the new broker")
    finally:
        node.close()
        again.stop()


def test_a_held_port_is_waited_for_then_named_in_the_error():
    holder = socket.create_server(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    threading.Timer(1.0, holder.close).start()
    started = time.monotonic()
    hub = start_embedded_hub("mqtt", "127.0.0.1", port, bind_wait_s=10)
    assert time.monotonic() - started >= 0.9
    hub.stop()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        held_by = f"port {port} on 127.0.0.1 is held by process {os.getpid()}"
        with pytest.raises(HubError, match=held_by):
            start_embedded_hub("mqtt", "127.0.0.1", port, bind_wait_s=0.5)


def test_subscribers_can_change_while_a_broadcast_walks_them():
    # amqtt's broadcast awaits each subscriber's access check inside its walk; clients that
    # (un)subscribe meanwhile must not break the walk or make it skip someone.
    broker = EmbeddedMqttBroker().start()
    try:
        subscriptions = broker._broker._subscriptions
        subscriptions["fd/a"] = [("s1", 1), ("s2", 1)]
        subscriptions["fd/b"] = [("s3", 1)]
        walked = []
        for topic, subscribers in subscriptions.items():
            subscriptions[f"{topic}/new"] = []  # a subscription arriving mid-walk
            subscriptions["fd/a"].pop(0)  # a client leaving mid-walk
            walked += [s for s, _qos in subscribers]
        assert walked == ["s1", "s2", "s3"]
    finally:
        broker.stop()
