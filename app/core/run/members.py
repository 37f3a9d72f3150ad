"""Who takes part in a run, as the FL server learns it from the hub's dispatch thread and
reads it from its own: which edges joined (and on which device), which refused or left
(and why), which went offline and which came back. Thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class RunMembers:
    def __init__(self, edges: list[str], names: dict[str, str] | None = None) -> None:
        self.edges = edges  # device ids, in partition order
        self._lock = threading.Lock()
        self._joined: set[str] = set()
        self._offline: set[str] = set()
        self._refused: dict[str, str] = {}  # device id → why it will not, or no longer
        self._left: set[str] = set()  # refused or failed: out for good
        self._device: dict[str, str] = {}
        self._name: dict[str, str] = dict(names or {})
        self._key: dict[str, str] = {}  # secure aggregation: each edge's public key

    def joined(self, node: str, device: str, name: str = "", key: str = "") -> None:
        with self._lock:
            self._joined.add(node)
            self._device[node] = device
            if name:
                self._name[node] = name
            if key:
                self._key[node] = key

    def keys(self, nodes: Iterable[str]) -> dict[str, str]:
        """The public keys these edges announced on joining (those that did)."""
        with self._lock:
            return {n: self._key[n] for n in nodes if n in self._key}

    def shown(self, node: str) -> str:
        """How the log names an edge: its display name, else its device id."""
        with self._lock:
            return self._name.get(node, node)

    def refused(self, node: str, reason: str, name: str = "") -> None:
        """Refused to join, or left mid-run (a task that raised): out of the run."""
        with self._lock:
            if name and node not in self._name:
                self._name[node] = name
            self._refused[node] = reason
            self._offline.add(node)
            self._left.add(node)

    def went_offline(self, nodes: Iterable[str]) -> list[str]:
        """Marks them offline; returns those that were still in the run until now."""
        with self._lock:
            was_in = [n for n in nodes if n in self._joined and n not in self._offline]
            self._offline.update(nodes)
            return was_in

    def came_back(self, node: str) -> bool:
        """An edge seen offline that reconnected with the run still loaded takes part
        again; one that refused or left does not. True if it was out until now."""
        with self._lock:
            if node not in self._joined or node not in self._offline or node in self._left:
                return False
            self._offline.discard(node)
            return True

    def alive(self) -> list[str]:
        with self._lock:
            return [e for e in self.edges if e in self._joined and e not in self._offline]

    def offline(self) -> set[str]:
        with self._lock:
            return set(self._offline)

    def refusals(self) -> dict[str, str]:
        """Device id → why it will not take part, or no longer."""
        with self._lock:
            return dict(self._refused)

    def devices(self, nodes: Iterable[str]) -> list[str]:
        with self._lock:
            return sorted({self._device.get(n) or "?" for n in nodes})

    def not_joined(self, known: dict[str, str], waited_s: float) -> str:
        """'site-3 (never connected); site-2 (refused: …)': each edge not in the run, with
        what is known of it: its refusal, going offline, or `known` (what the control
        center knew when the run started: never connected, offline since …, online)."""
        with self._lock:
            out = [e for e in self.edges if e not in self._joined or e in self._offline]
            refused, offline = dict(self._refused), set(self._offline)
        parts = []
        for edge in out:
            if edge in refused:
                said = f"refused: {refused[edge]}"
            elif edge in offline:
                said = "went offline while joining"
            else:
                said = known.get(edge, "unknown to this server")
                if said.startswith("online"):  # it was there, and said nothing
                    said += f"; no answer in {waited_s:.0f} s"
            parts.append(f"{self.shown(edge)} ({said})")
        return "; ".join(parts)
