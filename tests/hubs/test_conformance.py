"""One behaviour for every hub: local, embedded MQTT, Mosquitto and gRPC."""

import threading
import uuid

import numpy as np
import pytest

from app.backends.bridge import bridge
from app.backends.factory import create_hub
from app.errors import InvalidInput
from app.wire.chunking import split
from app.wire.hub import HubState
from app.wire.messages import Message, MessageType, encode
from tests.hubs.conftest import wait_connected, wait_for


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, Message]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, topic: str, message: Message) -> None:
        with self.lock:
            self.items.append((topic, message))
            self.threads.add(threading.current_thread().name)

    def wait(self, count: int, timeout: float = 30.0) -> list[tuple[str, Message]]:
        wait_for(lambda: len(self.items) >= count, timeout, f"{count} messages")
        return list(self.items)


def data(i: int = 0, **tensors) -> Message:
    return Message(MessageType.DATA, job_id=7, round=i, body={"i": i}, tensors=tensors)


def test_delivery_on_the_hub_dispatch_thread(hub_env):
    inbox = Inbox()
    rx = hub_env.make("rx")
    rx.subscribe("fd/p/#", inbox)
    tx = hub_env.make("tx")
    sent = tx.publish("fd/p/run/7/tx/metrics", data(3))
    ((topic, got),) = inbox.wait(1)
    assert topic == "fd/p/run/7/tx/metrics"
    assert (got.sender, got.seq, got.job_id, got.round, got.body) == (
        "tx",
        sent.seq,
        7,
        3,
        {"i": 3},
    )
    assert inbox.threads == {"feddeck-hub-rx"}
    assert threading.current_thread().name not in inbox.threads


def test_order_per_sender(hub_env):
    inbox = Inbox()
    hub_env.make("rx").subscribe("fd/#", inbox)
    tx = hub_env.make("tx")
    for i in range(300):
        tx.publish("fd/p/edge/tx/logs", data(i))
    got = inbox.wait(300)
    assert [m.body["i"] for _, m in got] == list(range(300))
    seqs = [m.seq for _, m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 300


@pytest.mark.parametrize(
    "size", [0, 1_000, 10_000_000, 200_000_000], ids=["0B", "1KB", "10MB", "200MB"]
)
def test_payload_sizes(hub_env, size):
    inbox = Inbox()
    hub_env.make("rx").subscribe("fd/p/run/1/+/model/up", inbox)
    tx = hub_env.make("tx")
    tensors = {}
    if size:
        tensors = {"w": np.arange(size // 4, dtype=np.float32), "b": np.array([1, -2], np.int64)}
    tx.publish("fd/p/run/1/tx/model/up", data(1, **tensors))
    ((_, got),) = inbox.wait(1, timeout=120)
    assert set(got.tensors) == set(tensors)
    for name, value in tensors.items():
        assert got.tensors[name].dtype == value.dtype
        assert np.array_equal(got.tensors[name], value)
    del tensors, got


def test_wildcards_and_unsubscribe(hub_env):
    status, everything, runs = Inbox(), Inbox(), Inbox()
    rx = hub_env.make("rx")
    rx.subscribe("fd/p1/edge/+/status", status)
    rx.subscribe("fd/p1/#", everything)
    sub = rx.subscribe("fd/+/run/+/+/metrics", runs)
    tx = hub_env.make("tx")
    tx.publish("fd/p1/edge/e1/status", data(1))
    tx.publish("fd/p1/edge/e2/status", data(2))
    tx.publish("fd/p1/edge/e2/system", data(3))
    tx.publish("fd/p2/run/4/e2/metrics", data(4))
    tx.publish("fd/p2/edge/e2/status", data(5))
    everything.wait(3)
    runs.wait(1)
    status.wait(2)
    tx.publish("fd/p1/edge/e9/control", data(6))
    everything.wait(4)
    assert [m.body["i"] for _, m in status.items] == [1, 2]
    assert [m.body["i"] for _, m in everything.items] == [1, 2, 3, 6]
    assert [m.body["i"] for _, m in runs.items] == [4]
    rx.unsubscribe(sub)
    tx.publish("fd/p3/run/1/x/metrics", data(7))
    tx.publish("fd/p1/edge/e1/status", data(8))
    status.wait(3)
    assert len(runs.items) == 1


def test_reconnect_after_the_hub_restarts(hub_env):
    states: list[HubState] = []
    inbox = Inbox()
    rx = hub_env.make("rx")
    rx.on_state(states.append)
    rx.subscribe("fd/#", inbox)
    tx = hub_env.make("tx")
    tx.publish("fd/a/b", data(1))
    inbox.wait(1)
    hub_env.restart()
    wait_connected(rx, tx)
    wait_for(lambda: HubState.RECONNECTING in states, 5, "reconnecting state")
    tx.publish("fd/a/b", data(2))
    got = inbox.wait(2)
    assert got[-1][1].body == {"i": 2}  # the subscription came back by itself


def test_malformed_input_is_rejected_and_the_node_carries_on(hub_env):
    from app.wire.chunking import split

    inbox = Inbox()
    rx = hub_env.make("rx")
    rx.subscribe("fd/#", inbox)
    attacker = hub_env.make("attacker")
    good = encode(data(1))
    corrupt = bytearray(encode(data(2, w=np.ones(64, np.float32))))
    corrupt[-5] ^= 0xFF
    attacker._send_chunk("fd/x", b"\x00garbage")  # not a chunk
    attacker._send_chunk("fd/x", next(split(b"FDM1 not json", 1024)))  # chunk of a non-message
    attacker._send_chunk("fd/x", next(split(bytes(corrupt), 1 << 20)))  # payload altered
    attacker._send_chunk("fd/x", next(split(good[:-3], 1024)))  # truncated frame
    fake = bytearray(next(split(good, 1 << 20)))
    fake[28:36] = (1 << 62).to_bytes(8, "big")  # claims an enormous total size
    attacker._send_chunk("fd/x", bytes(fake))
    attacker.publish("fd/x", data(3))
    ((_, got),) = inbox.wait(1)
    assert got.body == {"i": 3}
    wait_for(lambda: rx.stats.rejected == 5, 10, "five rejections")
    assert rx.state == HubState.CONNECTED


def test_oversized_publish_is_refused_at_the_sender(hub_env):
    from app.wire.chunking import WireLimits

    hub_env.limits = WireLimits(chunk_size=4096, max_message_size=64 * 1024)
    tx = hub_env.make("tx")
    with pytest.raises(InvalidInput, match="exceeds the hub limit"):
        tx.publish("fd/x", data(1, w=np.zeros(100_000, np.uint8)))
    with pytest.raises(InvalidInput, match="wildcards"):
        tx.publish("fd/+/x", data(1))


def test_bad_subscription_patterns(hub_env):
    rx = hub_env.make("rx")
    for pattern in ("fd/#/x", "fd/a+/b", "", "fd//x"):
        with pytest.raises(InvalidInput):
            rx.subscribe(pattern, lambda *_: None)


def test_a_failing_handler_does_not_stop_delivery(hub_env):
    inbox = Inbox()
    rx = hub_env.make("rx")

    def broken(topic, message):
        raise RuntimeError("handler bug")

    rx.subscribe("fd/#", broken)
    rx.subscribe("fd/#", inbox)
    tx = hub_env.make("tx")
    tx.publish("fd/a", data(1))
    tx.publish("fd/a", data(2))
    assert [m.body["i"] for _, m in inbox.wait(2)] == [1, 2]
    assert rx.stats.handler_errors == 2


def test_a_bridge_carries_messages_across_unchanged_both_ways(hub_env):
    """What a cluster run's rank 0 does: a second hub joined to this one on chosen topics;
    a message crosses whole (its sender too), and a node bridging a topic still hears it."""
    other = f"local://b{uuid.uuid4().hex[:8]}"
    ranks, edge = create_hub(other, "ranks"), create_hub(other, "edge-1")
    for hub in (ranks, edge):
        hub.connect()
        hub_env.hubs.append(hub)
    center = hub_env.make("center")
    bridge(ranks, center, ["fd/p/run/7/+/metrics"], ["fd/p/run/7/center/control"])
    seen_here, there, back = Inbox(), Inbox(), Inbox()
    ranks.subscribe("fd/p/run/7/+/metrics", seen_here)  # bridged, and read on its own hub
    hub_env.make("ingest").subscribe("fd/p/run/7/+/metrics", there)
    edge.subscribe("fd/p/run/7/center/control", back)
    model = np.arange(3_000_000, dtype=np.float32)  # 12 MB: many chunks
    edge.publish("fd/p/run/7/edge-1/metrics", data(1, w=model))
    ((topic, got),) = there.wait(1)
    assert topic == "fd/p/run/7/edge-1/metrics" and got.sender == "edge-1"
    assert np.array_equal(got.tensors["w"], model)
    assert seen_here.wait(1)[0][1].sender == "edge-1"
    hub_env.make("stop").publish("fd/p/run/7/center/control", data(2))
    ((_, stop),) = back.wait(1)
    assert (stop.sender, stop.body) == ("stop", {"i": 2})
    # a transport sends chunks handed over as bytearrays (as the rank hubs deliver them)
    for chunk in split(encode(data(3)), 1024):
        center._send_chunk("fd/p/run/7/x/metrics", bytearray(chunk))
    assert there.wait(2)[1][1].body == {"i": 3}
