"""Who gets a publish in a world of ranks: rank 0 keeps each node's subscriptions (a node
lives on one rank; a rank may hold several nodes) and answers, for a topic, which nodes on
which rank receive it. Pure bookkeeping, shared by the rank transports (MPI, torch)."""

from __future__ import annotations

import threading
from collections import defaultdict

from app.wire import topics


class RoutingTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[tuple[int, str], set[str]] = defaultdict(set)  # (rank, node) → patterns
        self._wills: dict[tuple[int, str], tuple[str, bytes]] = {}

    def join(self, rank: int, node: str, will: tuple[str, bytes] | None) -> None:
        with self._lock:
            self._subs.setdefault((rank, node), set())
            if will is not None:
                self._wills[(rank, node)] = will

    def subscribe(self, rank: int, node: str, pattern: str) -> None:
        with self._lock:
            self._subs[(rank, node)].add(pattern)

    def unsubscribe(self, rank: int, node: str, pattern: str) -> None:
        with self._lock:
            self._subs.get((rank, node), set()).discard(pattern)

    def leave(self, rank: int, node: str) -> None:
        """A node that closed cleanly: gone, without its will."""
        with self._lock:
            self._subs.pop((rank, node), None)
            self._wills.pop((rank, node), None)

    def rank_gone(self, rank: int) -> list[tuple[str, bytes]]:
        """A rank that ended with nodes still open: forget them, return their wills."""
        with self._lock:
            keys = [k for k in self._subs if k[0] == rank]
            for key in keys:
                self._subs.pop(key, None)
            return [w for k in keys if (w := self._wills.pop(k, None)) is not None]

    def ranks(self) -> set[int]:
        with self._lock:
            return {rank for rank, _ in self._subs}

    def targets(self, topic: str) -> dict[int, list[str]]:
        """The nodes, by rank, with a subscription matching `topic` (each node once)."""
        found: dict[int, list[str]] = defaultdict(list)
        with self._lock:
            for (rank, node), patterns in self._subs.items():
                if any(topics.matches(p, topic) for p in patterns):
                    found[rank].append(node)
        return dict(found)
