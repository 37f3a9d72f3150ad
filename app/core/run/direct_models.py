"""Big models over the direct channel (`app.wire.direct`) instead of the hub relay.

The server offers each round's global model to each selected edge with its own one-time
capabilities (one to fetch the model, one to push the update), sent on that edge's own
control topic, which only it may read: the hub's authentication still decides who moves
what. The model is laid out and hashed once a round, however many edges fetch it. An edge
that cannot fetch asks for the model over the hub; one that cannot push sends its update
over the hub; both say so in the run's log.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.wire import tensor_format
from app.wire.direct import DirectFailed, Endpoint, digest_of, fetch, push
from app.wire.direct_server import DirectServer
from app.wire.messages import Message

RELAY = "relay"  # an edge's request for the round's model over the hub


@dataclass(frozen=True)
class DirectPlan:
    """How a run's server offers the direct channel: the address it listens on and
    announces, the smallest model that goes direct, and TLS (when the hub has TLS)."""

    host: str
    min_bytes: int
    tls: bool = False


@dataclass(frozen=True)
class _Layout:
    """A round's model as offered: its safetensors pieces, their size and SHA-256."""

    round: int
    weights: dict[str, np.ndarray]
    parts: list
    size: int
    sha256: str

    @classmethod
    def of(cls, rnd: int, weights, metadata=None, sha256: str | None = None) -> _Layout:
        head, views = tensor_format.layout(weights, metadata)
        parts = [head, *views]
        size = sum(memoryview(p).nbytes for p in parts)
        return cls(rnd, weights, parts, size, sha256 or digest_of(parts))


class ServerDirect:
    """The FL server's side: one listener for the run, offers and uploads by round."""

    def __init__(self, plan: DirectPlan, max_pending: int) -> None:
        self.plan = plan
        self.channel = DirectServer(plan.host, tls=plan.tls, max_pending=max_pending)
        self._laid_out: _Layout | None = None

    def wants(self, weights: dict[str, np.ndarray]) -> bool:
        return sum(int(w.nbytes) for w in weights.values()) >= self.plan.min_bytes

    def stored(
        self, rnd: int, weights: dict[str, np.ndarray], metadata: dict[str, str], sha256: str
    ) -> None:
        """Round `rnd`'s model is `weights`, stored in a file with `metadata` whose SHA-256
        is `sha256`: it is offered as those same bytes under that digest, so the round's
        offers hash nothing, and what an edge fetches is that file."""
        self._laid_out = _Layout.of(rnd, weights, metadata, sha256)

    def offers(self, rnd: int, weights: dict[str, np.ndarray], edges: list[str]) -> dict[str, dict]:
        """Each edge's `direct` entry for round `rnd`'s model: where, what, and its own
        capabilities to fetch the model and to push its update."""
        laid_out = self._laid_out
        if laid_out is None or laid_out.round != rnd or laid_out.weights is not weights:
            laid_out = self._laid_out = _Layout.of(rnd, weights)
        parts, size, sha = laid_out.parts, laid_out.size, laid_out.sha256
        fetches = self.channel.offer(parts, len(edges))
        upload_limit = 2 * size + (1 << 20)  # an update is the model's shape: room to spare
        return {
            edge: {
                "endpoint": self.channel.endpoint.to_json(),
                "size": size,
                "sha256": sha,
                "fetch": cap,
                "push": self.channel.expect((edge, rnd), upload_limit),
            }
            for edge, cap in zip(edges, fetches, strict=True)
        }

    def end_round(self, rnd: int) -> None:
        """Round `rnd` is aggregated: its offers and anything pushed for it are let go."""
        self.channel.withdraw_all()
        self._laid_out = None
        self.channel.discard(keep=lambda key: key[1] > rnd)

    def received(self, message: Message) -> Message:
        """The update an edge announced, with the tensors it pushed; DirectFailed if they
        did not arrive or are not what it announced."""
        info = message.body.get("direct")
        sha = info.get("sha256") if isinstance(info, dict) else None
        buffer = self.channel.take((message.sender, message.round), sha)
        if buffer is None:
            raise DirectFailed("its direct upload did not arrive or does not match")
        try:
            tensors = tensor_format.read(memoryview(buffer))
        except tensor_format.SafetensorsError as exc:
            raise DirectFailed(f"its direct upload is not valid safetensors: {exc}") from None
        body = {k: v for k, v in message.body.items() if k != "direct"}
        return dataclasses.replace(message, body=body, tensors=tensors)

    def close(self) -> None:
        self.channel.close()


# -- the edge's side -------------------------------------------------------------------------
def fetch_model(info: object) -> dict[str, np.ndarray]:
    """The model a `direct` entry announces, fetched and checked; DirectFailed if not."""
    if not isinstance(info, dict):
        raise DirectFailed("the announcement is not a table")
    endpoint = Endpoint.from_json(info.get("endpoint"))
    buffer = fetch(endpoint, info.get("fetch"), info.get("size"), info.get("sha256"))
    try:
        return tensor_format.read(memoryview(buffer))
    except tensor_format.SafetensorsError as exc:
        raise DirectFailed(f"{endpoint}: the model is not valid safetensors: {exc}") from None


def push_update(info: object, update: Message) -> Message:
    """Push `update`'s tensors with the capability of `info`; returns the announcement to
    publish on the hub in its place (its body, size and SHA-256, no tensors)."""
    if not isinstance(info, dict) or not update.tensors:
        raise DirectFailed("nothing to push")
    endpoint = Endpoint.from_json(info.get("endpoint"))
    head, views = tensor_format.layout(update.tensors)
    size, sha = push(endpoint, info.get("push"), [head, *views])
    body: dict[str, Any] = {**update.body, "direct": {"size": size, "sha256": sha}}
    return dataclasses.replace(update, body=body, tensors={})


def describe(info: object) -> str:
    """Where a `direct` entry points, for a log line."""
    try:
        return str(Endpoint.from_json(info.get("endpoint") if isinstance(info, dict) else None))
    except DirectFailed:
        return "the announced address"
