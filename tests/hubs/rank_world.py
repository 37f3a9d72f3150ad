"""Run as three ranks by test_rank_hubs (`python -m tests.hubs.rank_world URL [rank0-ends]`
under mpirun or torchrun, URL the transport's: `mpi://world`, `trpc://world`): a server
node on rank 0 (served in place by the router) and an edge node on each other rank.
Prints `CHECK <name>` per check passed; any failure raises, which fails the job."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from app.backends.factory import create_hub
from app.backends.ranks.world import world_of
from app.wire.hub import HubState
from app.wire.messages import Message, MessageType

MODEL = np.random.default_rng(7).standard_normal(25_000_000, dtype=np.float32)  # 100 MB
MODEL_MB = MODEL.nbytes / 1e6
RUN = "fd/p/run/1"
URL = sys.argv[1] if len(sys.argv) > 1 else "mpi://world"
WORLD = world_of(URL)


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, Message, str]] = []
        self.cond = threading.Condition()

    def __call__(self, topic: str, message: Message) -> None:
        with self.cond:
            self.items.append((topic, message, threading.current_thread().name))
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 60.0) -> list[tuple[str, Message, str]]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"{len(self.items)} of {count} messages in {timeout} s")
            return list(self.items)


def greet_until(hub, topic: str, inbox: Inbox) -> None:
    """Say hello on `topic` until `inbox` has something: rank 0 may not have subscribed to
    hellos yet when this rank starts."""
    with inbox.cond:
        while not inbox.items:
            hub.publish(topic, Message(MessageType.STATUS))
            inbox.cond.wait(0.05)


def distinct_senders(inbox: Inbox, count: int) -> set[str]:
    with inbox.cond:
        inbox.cond.wait_for(lambda: len({m.sender for _, m, _ in inbox.items}) >= count, 60)
        return {m.sender for _, m, _ in inbox.items}


def check(name: str) -> None:
    print(f"CHECK {name}", flush=True)


def server() -> None:
    inbox, wills = Inbox(), Inbox()
    hub = create_hub(URL, "server")
    hub.connect()
    hub.subscribe(f"{RUN}/+/model/up", inbox)
    hub.subscribe(f"{RUN}/+/status", wills)
    hello = Inbox()
    hub.subscribe("fd/p/edge/+/status", hello)
    assert distinct_senders(hello, 2) == {"edge-1", "edge-2"}  # both subscribed to the model
    started = time.perf_counter()
    hub.publish(f"{RUN}/server/model/down", Message(MessageType.MODEL_DOWN, tensors={"w": MODEL}))
    ups = inbox.wait(2, timeout=120)
    elapsed = time.perf_counter() - started
    senders = sorted(m.sender for _, m, _ in ups)
    assert senders == ["edge-1", "edge-2"], senders
    for _, message, thread in ups:
        assert np.array_equal(message.tensors["w"], MODEL * 2), "an update came back altered"
        assert thread == "feddeck-hub-server", thread
    print(f"model {MODEL_MB:.0f} MB to two ranks and back: {elapsed:.2f} s", flush=True)
    check("fan-out and updates")
    # rank 2 leaves without closing a node that has a will: its OFFLINE reaches rank 0
    ((_, will, _),) = wills.wait(1)
    assert (will.sender, will.body) == ("orphan", {"state": "OFFLINE"}), will
    check("a rank's unclosed node sends its will")
    hub.close()


def edge(rank: int) -> None:
    inbox = Inbox()
    hub = create_hub(URL, f"edge-{rank}")
    hub.connect()
    hub.subscribe(f"{RUN}/server/model/down", inbox)
    greet_until(hub, f"fd/p/edge/edge-{rank}/status", inbox)
    ((_, model, thread),) = inbox.wait(1, timeout=120)
    assert model.sender == "server" and thread == f"feddeck-hub-edge-{rank}"
    assert np.array_equal(model.tensors["w"], MODEL), "the model arrived altered"
    update = Message(MessageType.MODEL_UP, tensors={"w": MODEL * 2})
    hub.publish(f"{RUN}/edge-{rank}/model/up", update)
    hub.flush()
    if rank == 2:
        orphan = create_hub(URL, "orphan", will_topic=f"{RUN}/orphan/status")
        orphan.connect()  # never closed: end_world says goodbye for the rank
    else:
        hub.close()
        assert hub.state == HubState.CLOSED


def rank0_ends(rank: int) -> None:
    """Rank 0 leaves first: every other rank's nodes learn it, with the reason."""
    hub = create_hub(URL, f"node-{rank}")
    hub.connect()
    if rank == 0:
        hello = Inbox()
        hub.subscribe("fd/hello/+", hello)
        distinct_senders(hello, 2)
        hub.publish("fd/up/0", Message(MessageType.STATUS))
        WORLD.end(wait_s=0)
        return
    up = Inbox()
    hub.subscribe("fd/up/0", up)
    greet_until(hub, f"fd/hello/{rank}", up)
    deadline = time.monotonic() + 30
    while hub.state != HubState.DISCONNECTED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.state == HubState.DISCONNECTED, hub.state
    assert "rank 0 ended" in (hub.fatal_error or ""), hub.fatal_error
    check(f"rank {rank} heard that rank 0 ended")


def main() -> int:
    link = WORLD.link()
    if link.size != 3:
        print(f"run as 3 ranks, not {link.size}", file=sys.stderr)
        return 2
    if sys.argv[2:] == ["rank0-ends"]:
        rank0_ends(link.rank)
    else:
        server() if link.rank == 0 else edge(link.rank)
    WORLD.end()
    check(f"rank {link.rank} ended")
    sys.stdout.flush()
    os._exit(0)  # as FedDeck's processes do: the world's end must have finalised MPI


if __name__ == "__main__":
    sys.exit(main())
