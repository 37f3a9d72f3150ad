"""The machinery every backend shares: `BaseHub` implements `app.wire.hub.Hub` (stamping,
chunking, the dispatch thread, reassembly, subscriptions); a backend adds the transport.
The threading contract is in `app.wire.hub`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from app.errors import InvalidInput
from app.wire import topics
from app.wire.chunking import Reassembler, WireLimits, split
from app.wire.hub import Handler, HubError, HubState, HubStats, Subscription
from app.wire.messages import (
    Message,
    MessageRejected,
    MessageType,
    decode,
    encode,
    encode_parts,
    payload_offset,
)

log = logging.getLogger(__name__)


_STOP = object()


class BaseHub(ABC):
    """A `Hub` over some transport: subclasses implement the `_backend_*` methods."""

    def __init__(self, node_id: str, limits: WireLimits | None = None) -> None:
        self.node_id = node_id
        self.limits = limits or WireLimits()
        self.stats = HubStats()
        self.state = HubState.DISCONNECTED
        self.fatal_error: str | None = None
        self._subs: list[Subscription] = []
        self._relays: list[tuple[str, Callable[[str, bytes], None]]] = []
        self._subs_lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()
        self._state_listeners: list[Callable[[HubState], None]] = []
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._reassembler = Reassembler(self.limits, payload_offset=payload_offset)
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name=f"feddeck-hub-{node_id}", daemon=True
        )
        self._dispatcher.start()

    def will_chunk(self) -> bytes:
        """The OFFLINE status the hub sends for this node if it vanishes without a clean
        close (MQTT's last will; the gRPC hub's lost stream). Tiny: always one chunk."""
        will = Message(MessageType.STATUS, sender=self.node_id, body={"state": "OFFLINE"})
        (chunk,) = split(encode(will), self.limits.chunk_size)
        return chunk

    # -- the contract ---------------------------------------------------------------------
    @abstractmethod
    def connect(self, timeout: float = 10.0) -> None:
        """Connect, waiting up to `timeout` s; raises HubError if not connected by then."""

    def publish(self, topic: str, message: Message) -> Message:
        """Stamp sender and sequence number, encode, and send. Returns what was sent."""
        if self.state == HubState.CLOSED:
            raise HubError("hub is closed")
        if not topic or any(c in topic for c in "+#"):
            raise InvalidInput(f"cannot publish to {topic!r}: a topic has no wildcards")
        with self._seq_lock:
            stamped = dataclasses.replace(message, sender=self.node_id, seq=next(self._seq))
            frame = encode_parts(stamped)
            size = sum(len(part) for part in frame)
            if size > self.limits.max_message_size:
                raise InvalidInput(
                    f"message of {size} bytes exceeds the hub limit of "
                    f"{self.limits.max_message_size} bytes"
                )
            for chunk in split(frame, self.limits.chunk_size):
                self._send_chunk(topic, chunk)
                self.stats.bytes_out += len(chunk)
        self.stats.published += 1
        return stamped

    def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        try:
            topics.validate_pattern(pattern)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        sub = Subscription(pattern, handler, next(self._tokens))
        with self._subs_lock:
            first = pattern not in self._patterns_locked()
            self._subs.append(sub)
        if first:
            try:
                self._backend_subscribe(pattern)
            except Exception:
                with self._subs_lock:
                    self._subs = [s for s in self._subs if s.token != sub.token]
                raise
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._subs_lock:
            self._subs = [s for s in self._subs if s.token != sub.token]
            last = sub.pattern not in self._patterns_locked()
        if last:
            self._backend_unsubscribe(sub.pattern)

    def relay(self, pattern: str, forward: Callable[[str, bytes], None]) -> None:
        """Chunks on topics matching `pattern` go to `forward` as they arrive, on the
        transport's thread (and are reassembled here only for a subscription of this
        hub's own): how a bridge passes messages from one hub to another unchanged, their
        sender included. `forward` must return at once (hand the chunk to another hub's
        send, which queues it)."""
        try:
            topics.validate_pattern(pattern)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        with self._subs_lock:
            first = pattern not in self._patterns_locked()
            self._relays.append((pattern, forward))
        if first:
            self._backend_subscribe(pattern)

    def on_state(self, callback: Callable[[HubState], None]) -> None:
        self._state_listeners.append(callback)

    def close(self) -> None:
        if self.state == HubState.CLOSED:
            return
        self._backend_close()
        self._set_state(HubState.CLOSED)
        self._inbox.put(_STOP)
        if threading.current_thread() is not self._dispatcher:
            self._dispatcher.join(timeout=10)

    def __enter__(self) -> BaseHub:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what was published has left this node (where the backend can tell)."""
        return True

    # -- for backends ---------------------------------------------------------------------
    @abstractmethod
    def _send_chunk(self, topic: str, chunk: bytes) -> None: ...

    @abstractmethod
    def _backend_subscribe(self, pattern: str) -> None: ...

    @abstractmethod
    def _backend_unsubscribe(self, pattern: str) -> None: ...

    @abstractmethod
    def _backend_close(self) -> None: ...

    def _patterns(self) -> list[str]:
        with self._subs_lock:
            return self._patterns_locked()

    def _patterns_locked(self) -> list[str]:
        return list(
            dict.fromkeys([*(s.pattern for s in self._subs), *(p for p, _ in self._relays)])
        )

    def _on_chunk(self, topic: str, chunk: bytes) -> None:
        """Called by the backend's network thread: hand over and return at once."""
        for pattern, forward in self._relays:
            if topics.matches(pattern, topic):
                self.stats.bytes_in += len(chunk)
                self._call(forward, topic, chunk)
                if not any(topics.matches(s.pattern, topic) for s in list(self._subs)):
                    return  # nobody here reads it too: no reassembly
                break
        self._inbox.put((topic, chunk))

    def _set_state(self, state: HubState) -> None:
        if state != self.state:
            self.state = state
            self._inbox.put(("__state__", state))

    # -- dispatch thread ------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            topic, data = item
            if topic == "__state__":
                for listener in list(self._state_listeners):
                    self._call(listener, data)
                continue
            self.stats.bytes_in += len(data)
            try:
                frame = self._reassembler.feed(data)
                if frame is None:
                    continue
                message = decode(
                    frame, self.limits.max_message_size, self._reassembler.payload_sha256
                )
            except MessageRejected as exc:
                self._reject(topic, str(exc))
                continue
            self._deliver(topic, message)

    def _reject(self, topic: str, reason: str) -> None:
        self.stats.rejected += 1
        self.stats.reasons[reason.split(":")[0]] += 1
        log.warning("%s rejected a message on %s: %s", self.node_id, topic, reason)

    def _deliver(self, topic: str, message: Message) -> None:
        with self._subs_lock:
            targets = [s.handler for s in self._subs if topics.matches(s.pattern, topic)]
        for handler in targets:
            self.stats.delivered += 1
            self._call(handler, topic, message)

    def _call(self, fn: Callable, *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("%s: a hub handler failed", self.node_id)


class AckWaiter:
    """Lets a caller wait until the network thread confirms something (SUBACK, hub ack)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[object, threading.Event] = {}

    def expect(self, key: object) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def ack(self, key: object) -> None:
        # The confirmation may beat the caller's expect() (paho hands out the message id
        # only after sending), so an ack with no waiter is kept, already set, for it.
        with self._lock:
            event = self._events.pop(key, None)
            if event is None:
                event = self._events[key] = threading.Event()
                if len(self._events) > 10_000:  # never expected: forget the oldest
                    self._events.pop(next(iter(self._events)))
        event.set()

    def forget(self, key: object) -> None:
        with self._lock:
            self._events.pop(key, None)

    def release_all(self) -> None:
        with self._lock:
            events, self._events = list(self._events.values()), {}
        for event in events:
            event.set()


class RefusalLog:
    """Refused connections, each logged until they come in a flood: past `burst` in an
    interval, one line per interval says how many more and the last reason, so that a
    hostile client cannot fill the disk or the log view through the hub."""

    def __init__(self, logger: logging.Logger, what: str, burst: int = 20, interval_s=10.0):
        self._log, self._what = logger, what
        self._burst, self._interval = burst, interval_s
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._count = self._held = 0
        self._last = ""

    def refused(self, who: str, why: object) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self._interval:
                if self._held:
                    self._log.warning(
                        "refused %d more %s connections in %.0f s (last: %s)",
                        self._held,
                        self._what,
                        now - self._window_start,
                        self._last,
                    )
                self._window_start, self._count, self._held = now, 0, 0
            self._count += 1
            if self._count <= self._burst:
                self._log.warning("refused %s %s: %s", self._what, who, why)
            else:
                self._held += 1
                self._last = f"{who}: {why}"
