"""A hub over a world of ranks that a cluster engine started (mpirun, torchrun, srun).

Rank 0 routes: every node sends its subscriptions and publishes there, and rank 0 passes
each chunk on to the ranks whose nodes subscribed to its topic (a node on rank 0 is served
in place). Ranks are the processes the operator's engine started on the operator's
network, so, as on MPI itself, a rank is trusted: there are no tokens.

A `RankWire` moves frames between ranks: a small JSON header and, for chunks, the bytes
beside it as their own message, never pickled. One `RankLink` per process holds the
wire, the nodes of this rank and, on rank 0, the routing table.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from app.backends.base import AckWaiter
from app.backends.ranks.routing import RoutingTable
from app.wire.hub import HubError

log = logging.getLogger(__name__)
ROUTER = 0
ACK_TIMEOUT_S = 30.0
# Keepalive: every rank pings rank 0, which answers. A rank silent for SILENCE_S is taken
# as dead (its nodes' wills go out); a rank that hears no answer for as long, as ended. A
# cluster engine that lets the others run on (mpirun --enable-recovery) needs no more.
PING_S = 2.0
SILENCE_S = 15.0

Frame = Callable[[int, dict, bytearray | None], None]


class RankWire(Protocol):
    rank: int
    size: int

    def start(self, on_frame: Frame) -> None:
        """Deliver each frame that arrives, on the wire's own thread, in arrival order."""

    def send(self, dest: int, header: dict, payload: bytes | bytearray | None = None) -> None:
        """Queue a frame for `dest`; returns at once (frames to one rank keep their order)."""

    def stop(self, timeout: float) -> None:
        """Send what is queued (waiting up to `timeout` s), then stop the wire's thread."""


class RankNode(Protocol):
    node_id: str

    def _on_chunk(self, topic: str, chunk: bytes | bytearray) -> None: ...

    def _world_ended(self, reason: str) -> None: ...


class RankLink:
    def __init__(self, wire: RankWire) -> None:
        self.wire = wire
        self.rank, self.size = wire.rank, wire.size
        self._nodes: dict[str, RankNode] = {}
        self._lock = threading.Lock()
        self._acks = AckWaiter()
        self._ack_ids = itertools.count(1)
        self._table = RoutingTable() if self.rank == ROUTER else None
        self._left: set[int] = set()  # ranks that ended, or were taken as dead
        self._gone_lock = threading.Lock()  # a rank's will is the last thing routed of it
        self._everyone_left = threading.Event()
        self.ended: str | None = None  # why the world ended, seen from this rank
        self.lost: set[int] = set()  # ranks taken as dead (heard of, on ranks other than 0)
        if self.size == 1:
            self._everyone_left.set()
        now = time.monotonic()
        self._heard = {rank: now for rank in range(self.size)}  # rank 0: from each; others: pongs
        self._closing = threading.Event()
        wire.start(self._on_frame)
        if self.size > 1:
            threading.Thread(
                target=self._keepalive, name=f"feddeck-rank-{self.rank}-keepalive", daemon=True
            ).start()

    # -- a node's calls -------------------------------------------------------------------
    def join(self, node: RankNode, will: tuple[str, bytes] | None, timeout: float) -> None:
        if self.ended:
            raise HubError(f"the rank world has ended: {self.ended}")
        with self._lock:
            if node.node_id in self._nodes:
                raise HubError(f"node {node.node_id!r} is already on rank {self.rank}")
            self._nodes[node.node_id] = node
        header = {"k": "join", "node": node.node_id}
        if will is not None:
            header["will"] = will[0]
        self._ask(header, will[1] if will else None, timeout)

    def subscribe(self, node: str, pattern: str) -> None:
        self._ask({"k": "sub", "node": node, "pattern": pattern}, None, ACK_TIMEOUT_S)

    def unsubscribe(self, node: str, pattern: str) -> None:
        try:
            self._ask({"k": "unsub", "node": node, "pattern": pattern}, None, ACK_TIMEOUT_S)
        except HubError:
            if not self.ended:
                raise  # else nothing routes any more: nothing to undo

    def publish(self, topic: str, chunk: bytes) -> None:
        if self.ended:
            raise HubError(f"the rank world has ended: {self.ended}")
        if self.rank == ROUTER:
            self._route(topic, chunk)
        else:
            self.wire.send(ROUTER, {"k": "pub", "topic": topic}, chunk)

    def leave(self, node: str) -> None:
        """A node closing cleanly: its subscriptions go, its will is not sent."""
        with self._lock:
            self._nodes.pop(node, None)
        if self.ended:
            return
        if self.rank == ROUTER:
            self._table.leave(ROUTER, node)
        else:
            self.wire.send(ROUTER, {"k": "leave", "node": node})

    # -- the world ------------------------------------------------------------------------
    def wait_for_ranks(self, timeout: float | None = None) -> bool:
        """On rank 0: wait until every other rank has said it ends (see `close`)."""
        return self._everyone_left.wait(timeout)

    def end_others(self, why: str) -> None:
        """On rank 0: end every other rank now. Their nodes' wills go out first (an edge
        agent's says it is OFFLINE), so that whoever listens through rank 0 hears it."""
        for rank in range(1, self.size):
            with self._gone_lock:
                if rank in self._left:
                    continue
                self._left.add(rank)
                for topic, chunk in self._table.rank_gone(rank):
                    self._route(topic, chunk)
            self.wire.send(rank, {"k": "end", "why": why, "lost": sorted(self.lost)})
        self._everyone_left.set()

    def close(self, timeout: float = 10.0) -> None:
        """This rank ends: the others hear it (rank 0 ending ends the world for them)."""
        self._closing.set()
        if self.rank == ROUTER:
            for rank in range(1, self.size):
                if rank not in self._left:
                    self.wire.send(
                        rank, {"k": "end", "why": "rank 0 ended", "lost": sorted(self.lost)}
                    )
        else:
            self.wire.send(ROUTER, {"k": "bye"})
        self.wire.stop(timeout)

    # -- internals ------------------------------------------------------------------------
    def _ask(self, header: dict, payload: bytes | None, timeout: float) -> None:
        """Send to rank 0 and wait until it has applied it, so that a publish from any rank
        after a subscribe returns is routed by it."""
        if self.ended:
            raise HubError(f"the rank world has ended: {self.ended}")
        if self.rank == ROUTER:
            self._apply(ROUTER, header, payload)
            return
        ack = next(self._ack_ids)
        done = self._acks.expect(ack)
        self.wire.send(ROUTER, {**header, "ack": ack}, payload)
        if not done.wait(timeout):
            self._acks.forget(ack)
            raise HubError(f"rank 0 did not answer within {timeout:.0f} s ({header['k']})")
        if self.ended:
            raise HubError(f"the rank world has ended: {self.ended}")

    def _keepalive(self) -> None:
        while not self._closing.wait(PING_S):
            since = time.monotonic() - SILENCE_S
            if self.rank != ROUTER:
                if self.ended:
                    return
                if self._heard[ROUTER] < since:
                    self.lost.add(ROUTER)
                    why = f"rank 0 has been silent for {SILENCE_S:.0f} s"
                    log.warning("rank %d: %s: taken as dead, this rank ends", self.rank, why)
                    self._end(why)
                    return
                self.wire.send(ROUTER, {"k": "ping"})
                continue
            for rank in range(1, self.size):
                if rank not in self._left and self._heard[rank] < since:
                    self._rank_lost(rank)

    def _rank_lost(self, rank: int) -> None:
        log.warning(
            "rank %d has been silent for %.0f s: taken as gone (its nodes go offline)",
            rank,
            SILENCE_S,
        )
        with self._gone_lock:
            self._left.add(rank)
            self.lost.add(rank)
            for topic, chunk in self._table.rank_gone(rank):
                self._route(topic, chunk)
        if len(self._left) >= self.size - 1:
            self._everyone_left.set()

    def _on_frame(self, source: int, header: dict, payload: bytearray | None) -> None:
        kind = header.get("k")
        self._heard[source] = time.monotonic()
        if kind == "ping":
            self.wire.send(source, {"k": "pong"})
            return
        if kind == "pong":
            return
        if kind == "deliver":
            self._deliver_here(header["nodes"], header["topic"], payload)
        elif kind == "ack":
            self._acks.ack(header["ack"])
        elif kind == "end":
            self.lost.update(int(r) for r in header.get("lost", []))
            self._end(header.get("why", "rank 0 ended"))
        elif self.rank == ROUTER:
            with self._gone_lock:
                if source in self._left:
                    return  # ended or lost: its will said OFFLINE, nothing may follow it
                self._apply(source, header, payload)
            if "ack" in header:
                self.wire.send(source, {"k": "ack", "ack": header["ack"]})
        else:
            log.warning("rank %d: a frame of unknown kind %r from rank %d", self.rank, kind, source)

    def _apply(self, source: int, header: dict, payload: bytearray | None) -> None:
        kind, node = header.get("k"), header.get("node")
        if kind == "pub":
            self._route(header["topic"], payload)
        elif kind == "sub":
            self._table.subscribe(source, node, header["pattern"])
        elif kind == "unsub":
            self._table.unsubscribe(source, node, header["pattern"])
        elif kind == "join":
            will = (header["will"], bytes(payload)) if "will" in header else None
            self._table.join(source, node, will)
        elif kind == "leave":
            self._table.leave(source, node)
        elif kind == "bye":
            self._left.add(source)
            for topic, chunk in self._table.rank_gone(source):
                self._route(topic, chunk)
            if len(self._left) >= self.size - 1:
                self._everyone_left.set()
        else:
            log.warning("rank 0: a frame of unknown kind %r from rank %d", kind, source)

    def _route(self, topic: str, chunk: bytes | bytearray) -> None:
        for rank, nodes in self._table.targets(topic).items():
            if rank == ROUTER:
                self._deliver_here(nodes, topic, chunk)
            elif rank not in self._left:
                self.wire.send(rank, {"k": "deliver", "topic": topic, "nodes": nodes}, chunk)

    def _deliver_here(self, nodes: list[str], topic: str, chunk: bytes | bytearray) -> None:
        with self._lock:
            found = [self._nodes[n] for n in nodes if n in self._nodes]
        for node in found:
            node._on_chunk(topic, chunk)

    def _end(self, why: str) -> None:
        self.ended = why
        self._acks.release_all()
        with self._lock:
            nodes = list(self._nodes.values())
        for node in nodes:
            node._world_ended(why)


def encode_header(header: dict) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode()


def decode_header(data: bytes | bytearray) -> dict:
    header = json.loads(data)
    if not isinstance(header, dict):
        raise ValueError("a rank frame's header is not an object")
    return header


class Backoff:
    """Polling pauses for a wire's thread: none while frames flow, growing to `most` when
    idle, so that an idle rank costs little CPU and a busy one no latency."""

    def __init__(self, most: float = 0.002) -> None:
        self.most, self._pause = most, 0.0

    def busy(self) -> None:
        self._pause = 0.0

    def idle(self) -> None:
        time.sleep(self._pause)
        self._pause = min(self.most, self._pause * 2 or 0.00005)
