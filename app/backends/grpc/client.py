"""gRPC hub client: one stream to the hub, reopened with backoff and jitter when it breaks.

Frames published while the stream is down wait in the outgoing queue and go out after the
reconnect; subscriptions are renewed first, so nothing routed after that is missed.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from app.backends.base import AckWaiter, BaseHub
from app.backends.grpc import hub_pb2, hub_pb2_grpc
from app.backends.grpc.server import GOODBYE, channel_options
from app.wire.hub import HubError, HubState
from app.wire.limits import WireLimits

log = logging.getLogger(__name__)
_FATAL = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
}
SUBSCRIBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GrpcOptions:
    target: str  # host:port
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    will_topic: str | None = None  # the hub publishes this node's OFFLINE there if it vanishes
    min_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as fh:
        return fh.read()


class GrpcHub(BaseHub):
    def __init__(self, node_id: str, options: GrpcOptions, limits: WireLimits | None = None):
        super().__init__(node_id, limits)
        self.options = options
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._acks = AckWaiter()
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._stream_lock = threading.Lock()
        self._stream = None
        self._channel = self._make_channel()
        self._stub = hub_pb2_grpc.HubStub(self._channel)
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"grpc-hub-client-{node_id}", daemon=True
        )

    def _make_channel(self) -> grpc.Channel:
        opts = channel_options(self.limits)
        if not self.options.tls:
            return grpc.insecure_channel(self.options.target, options=opts)
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(self.options.ca_file),
            private_key=_read(self.options.key_file),
            certificate_chain=_read(self.options.cert_file),
        )
        return grpc.secure_channel(self.options.target, creds, options=opts)

    def connect(self, timeout: float = 10.0) -> None:
        self._set_state(HubState.CONNECTING)
        if not self._supervisor.is_alive():
            self._supervisor.start()
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.05):
            if self.fatal_error:  # refused for good: no point waiting out the timeout
                raise HubError(self.fatal_error)
            if time.monotonic() > deadline:
                raise HubError(
                    f"no gRPC hub answered at {self.options.target} (waited {timeout:.0f} s)"
                )

    def _metadata(self) -> list[tuple[str, str | bytes]]:
        meta: list[tuple[str, str | bytes]] = [("node-id", self.node_id)]
        if self.options.token:
            meta.append(("authorization", f"Bearer {self.options.token}"))
        if self.options.will_topic:
            meta += [("will-topic", self.options.will_topic), ("will-bin", self.will_chunk())]
        return meta

    def _requests(self, initial: list[str], stop: threading.Event) -> Iterator[hub_pb2.Frame]:
        for pattern in initial:
            yield hub_pb2.Frame(subscribe=hub_pb2.Subscribe(pattern=pattern))
        while not stop.is_set():
            try:
                frame = self._out.get(timeout=0.25)
            except queue.Empty:
                continue
            if frame is None:
                return
            yield frame

    def _supervise(self) -> None:
        attempt = 0
        while not self._closing.is_set():
            try:
                grpc.channel_ready_future(self._channel).result(timeout=self.options.max_backoff_s)
            except grpc.FutureTimeoutError:
                attempt += 1
                continue
            stop = threading.Event()
            patterns = self._patterns()
            waits = [self._acks.expect(p) for p in ["", *patterns]]  # "": the hub's welcome
            try:
                call = self._stub.Connect(self._requests(patterns, stop), metadata=self._metadata())
                with self._stream_lock:
                    self._stream = call
                threading.Thread(target=self._mark_connected, args=(waits,), daemon=True).start()
                for frame in call:
                    kind = frame.WhichOneof("kind")
                    if kind == "publish":
                        self._on_chunk(frame.publish.topic, frame.publish.chunk)
                    elif kind == "subscribe":
                        self._acks.ack(frame.subscribe.pattern)
                attempt = 0
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code in _FATAL:
                    self.fatal_error = f"gRPC hub refused {self.node_id}: {exc.details()}"
                    log.error("%s; not retrying", self.fatal_error)
                    self._acks.release_all()  # a waiting subscribe learns it at once
                    self._set_state(HubState.DISCONNECTED)
                    return
                if not self._closing.is_set():
                    log.info("%s: gRPC stream lost (%s); reconnecting", self.node_id, code)
            finally:
                stop.set()
                self._connected.clear()
                with self._stream_lock:
                    self._stream = None
            if self._closing.is_set():
                return
            self._set_state(HubState.RECONNECTING)
            attempt += 1
            delay = min(
                self.options.max_backoff_s, self.options.min_backoff_s * 2 ** min(attempt, 8)
            )
            self._closing.wait(delay * random.uniform(0.5, 1.0))

    def _mark_connected(self, waits: list[threading.Event]) -> None:
        for event in waits:
            event.wait(SUBSCRIBE_TIMEOUT_S)
        with self._stream_lock:
            if self._stream is None or self.fatal_error or not waits[0].is_set():
                return
        self._connected.set()
        self._set_state(HubState.CONNECTED)

    def _send_chunk(self, topic: str, chunk: bytes | bytearray) -> None:
        if not isinstance(chunk, bytes):  # a chunk bridged from another hub; protobuf takes bytes
            chunk = bytes(chunk)
        self._out.put(hub_pb2.Frame(publish=hub_pb2.Publish(topic=topic, chunk=chunk)))

    def _backend_subscribe(self, pattern: str) -> None:
        if not self._connected.is_set():
            return  # renewed with the others when the stream opens
        done = self._acks.expect(pattern)
        self._out.put(hub_pb2.Frame(subscribe=hub_pb2.Subscribe(pattern=pattern)))
        confirmed = done.wait(SUBSCRIBE_TIMEOUT_S)
        if self.fatal_error:
            raise HubError(self.fatal_error)
        if not confirmed:
            raise HubError(f"gRPC hub did not confirm the subscription to {pattern!r}")

    def _backend_unsubscribe(self, pattern: str) -> None:
        self._out.put(hub_pb2.Frame(unsubscribe=hub_pb2.Unsubscribe(pattern=pattern)))

    def flush(self, timeout: float = 30.0) -> bool:
        # Frames leave the queue as gRPC takes them; the stream's flow control does the rest.
        import time

        deadline = time.monotonic() + timeout
        while not self._out.empty():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _backend_close(self) -> None:
        # A graceful end: the request stream closes after everything already queued, the
        # hub then ends our response stream. Cancel only if that does not happen in time.
        self._closing.set()
        self._out.put(GOODBYE)  # the hub keeps this node's will to itself
        self._out.put(None)
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=5)
        with self._stream_lock:
            if self._stream is not None:
                self._stream.cancel()
        self._acks.release_all()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=10)
        self._channel.close()


def hub_from_url(url, node_id: str, *, limits=None, token=None, will_topic=None) -> GrpcHub:
    """The transport registry's client builder: `url` is a checked wire.transports.HubUrl."""
    options = GrpcOptions(
        target=f"{url.host}:{url.port}",
        tls=url.tls,
        ca_file=url.files.get("ca"),
        cert_file=url.files.get("cert"),
        key_file=url.files.get("key"),
        token=token,
        will_topic=will_topic,
    )
    return GrpcHub(node_id, options, limits)
