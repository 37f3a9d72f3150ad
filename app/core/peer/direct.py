"""Big models between a run's edges beside the hub: an edge whose share is at least the
run's `min_bytes` offers it on a listener of its own (app.wire.direct_server), one
one-time capability per out-neighbour, and sends over the hub only where to fetch it.
The hub still decides who may tell whom (the inbox rules), and the receiver checks the
bytes against their SHA-256. Offers of a round two rounds back are withdrawn."""

from __future__ import annotations

import numpy as np

from app.wire import tensor_format
from app.wire.direct import address_towards, digest_of
from app.wire.direct_server import DirectServer

KEEP_ROUNDS = 2  # a slow out-neighbour may still be fetching the round before


class PeerDirect:
    def __init__(self, hub, plan: dict) -> None:
        self.hub = hub
        self.min_bytes = int(plan.get("min_bytes", 1 << 62))
        self.tls = bool(plan.get("tls", False))
        self._server: DirectServer | None = None  # opened with the first big share
        self._caps: dict[int, list[str]] = {}

    def offer(self, rnd: int, tensors: dict[str, np.ndarray], holders: int) -> list[dict] | None:
        """Where each of `holders` out-neighbours fetches this round's share (None: it is
        small, or there is no one to send it to: send it over the hub)."""
        if not holders or sum(v.nbytes for v in tensors.values()) < self.min_bytes:
            return None
        if self._server is None:
            host = address_towards(getattr(self.hub, "url", ""))
            self._server = DirectServer(host, tls=self.tls)
        head, views = tensor_format.layout(tensors)
        parts = [head, *views]
        size, sha256 = sum(memoryview(p).nbytes for p in parts), digest_of(parts)
        caps = self._server.offer(parts, holders)
        self._caps[rnd] = caps
        for old in [r for r in self._caps if r <= rnd - KEEP_ROUNDS]:
            self._server.withdraw(self._caps.pop(old))
        endpoint = self._server.endpoint.to_json()
        return [
            {"endpoint": endpoint, "fetch": cap, "size": size, "sha256": sha256} for cap in caps
        ]

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
