"""The hub contract the runtimes depend on; `app.backends` implements it.

Threading contract (tested for every backend):
- `publish` may be called from any thread; it encodes, chunks and hands chunks to the
  backend, and returns once they are queued for sending.
- Handlers run on the hub's own dispatch thread, named ``feddeck-hub-<node id>``, one at a
  time, in the order messages arrived; never on the caller's or the network thread. A slow
  handler delays later deliveries of this hub only. An exception in a handler is logged and
  does not stop delivery.
- State callbacks run on the dispatch thread too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from app.errors import FedDeckError
from app.wire.limits import WireLimits
from app.wire.messages import Message

Handler = Callable[[str, Message], None]


class HubState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class HubError(FedDeckError):
    """The hub cannot do what was asked (not connected in time, closed, ...)."""


@dataclass
class HubStats:
    published: int = 0
    delivered: int = 0
    rejected: int = 0
    handler_errors: int = 0
    bytes_out: int = 0  # chunk bytes this node handed to the transport
    bytes_in: int = 0  # chunk bytes that reached this node
    reasons: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Subscription:
    pattern: str
    handler: Handler
    token: int


class Hub(Protocol):
    """Publish/subscribe over some transport. Use as a context manager or call close()."""

    node_id: str
    limits: WireLimits
    stats: HubStats
    state: HubState
    fatal_error: str | None  # set when the hub refused this node for good (no retrying)

    def connect(self, timeout: float = 10.0) -> None:
        """Connect, waiting up to `timeout` s; raises HubError if not connected by then."""

    def publish(self, topic: str, message: Message) -> Message:
        """Stamp sender and sequence number, encode, and send. Returns what was sent."""

    def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """Deliver messages on topics matching `pattern`; returns once the hub confirmed."""

    def unsubscribe(self, sub: Subscription) -> None: ...

    def on_state(self, callback: Callable[[HubState], None]) -> None: ...

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what was published has left this node (where the backend can tell)."""

    def close(self) -> None: ...

    def __enter__(self) -> Hub: ...

    def __exit__(self, *exc: object) -> None: ...


class AccessPolicy(Protocol):
    """What a hub asks before it lets a node in, or lets it publish or subscribe.
    `authenticate` raises a FedDeckError (with the reason) to refuse; the principal it
    returns is handed back to the other three."""

    def authenticate(self, node: str, token: str) -> Any: ...

    def may_publish(self, principal: Any, topic: str) -> bool: ...

    def may_subscribe(self, principal: Any, pattern: str) -> bool: ...

    def still_valid(self, principal: Any) -> bool: ...
