"""Who takes part in a run, as the FL server learns it from the hub's dispatch thread and
reads it from its own: which edges joined (and on which device), which refused or left
(and why), which went offline. Thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class RunMembers:
    def __init__(self, edges: list[str]) -> None:
        self.edges = edges  # device ids, in partition order
        self._lock = threading.Lock()
        self._joined: set[str] = set()
        self._offline: set[str] = set()
        self._refused: dict[str, str] = {}  # edge (as shown) → why it will not, or no longer
        self._device: dict[str, str] = {}

    def joined(self, node: str, device: str) -> None:
        with self._lock:
            self._joined.add(node)
            self._device[node] = device

    def refused(self, node: str, shown: str, reason: str) -> None:
        """Refused to join, or left mid-run (a task that raised): out of the run."""
        with self._lock:
            self._refused[shown] = reason
            self._offline.add(node)

    def went_offline(self, nodes: Iterable[str]) -> None:
        with self._lock:
            self._offline.update(nodes)

    def alive(self) -> list[str]:
        with self._lock:
            return [e for e in self.edges if e in self._joined and e not in self._offline]

    def offline(self) -> set[str]:
        with self._lock:
            return set(self._offline)

    def refusals(self) -> dict[str, str]:
        with self._lock:
            return dict(self._refused)

    def devices(self, nodes: Iterable[str]) -> list[str]:
        with self._lock:
            return sorted({self._device.get(n) or "?" for n in nodes})
