"""The gRPC hub service: routes chunks between node streams by topic pattern.

One bidirectional stream per node. A reader thread takes the node's frames; the stream's
own handler thread writes what is routed to it. The hub never decodes chunks: it routes
bytes, so a large model passes through without being reassembled here.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
from app.backends.chunking import CHUNK_OVERHEAD, WireLimits
from app.backends.grpc import hub_pb2, hub_pb2_grpc
from app.core import topics

log = logging.getLogger(__name__)
_END = object()
FRAME_SLACK = 64 * 1024  # protobuf framing and the topic string, on top of a chunk

# Returns the authenticated node id for the call's metadata, or None to refuse it.
Authenticator = Callable[[dict[str, str]], str | None]


def channel_options(limits: WireLimits, server: bool = False) -> list[tuple[str, int]]:
    """Frame limit just above one chunk; keepalives so a dead peer is noticed in seconds."""
    size = limits.chunk_size + CHUNK_OVERHEAD + FRAME_SLACK
    options = [
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    if server:  # accept the clients' pings instead of answering them with GOAWAY
        options += [
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
            ("grpc.http2.max_ping_strikes", 0),
        ]
    return options


class _Session:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.patterns: set[str] = set()
        self.out: queue.SimpleQueue = queue.SimpleQueue()


class HubServicer(hub_pb2_grpc.HubServicer):
    def __init__(self, authenticate: Authenticator | None = None) -> None:
        self._authenticate = authenticate
        self._sessions: set[_Session] = set()
        self._lock = threading.Lock()

    def Connect(self, request_iterator, context) -> Iterator[hub_pb2.Frame]:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        node_id = metadata.get("node-id", "")
        if self._authenticate is not None:
            node_id = self._authenticate(metadata) or ""
            if not node_id:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked credentials")
        if not node_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node-id metadata is required")
        session = _Session(node_id)
        with self._lock:
            self._sessions.add(session)
        context.add_callback(lambda: session.out.put(_END))
        reader = threading.Thread(
            target=self._read,
            args=(session, request_iterator),
            daemon=True,
            name=f"grpc-hub-read-{node_id}",
        )
        reader.start()
        try:
            while (item := session.out.get()) is not _END:
                yield item
        finally:
            with self._lock:
                self._sessions.discard(session)

    def _read(self, session: _Session, frames: Iterator[hub_pb2.Frame]) -> None:
        try:
            for frame in frames:
                kind = frame.WhichOneof("kind")
                if kind == "publish":
                    self._route(frame)
                elif kind == "subscribe":
                    try:
                        topics.validate_pattern(frame.subscribe.pattern)
                    except ValueError as exc:
                        log.warning("%s: bad subscription: %s", session.node_id, exc)
                        continue
                    session.patterns.add(frame.subscribe.pattern)
                    session.out.put(frame)  # the acknowledgement
                elif kind == "unsubscribe":
                    session.patterns.discard(frame.unsubscribe.pattern)
        except grpc.RpcError:
            pass  # the node went away; the stream's callback ends the session
        except Exception:
            log.exception("%s: hub stream reader failed", session.node_id)
        finally:
            session.out.put(_END)

    def _route(self, frame: hub_pb2.Frame) -> None:
        topic = frame.publish.topic
        with self._lock:
            targets = [
                s for s in self._sessions if any(topics.matches(p, topic) for p in s.patterns)
            ]
        for session in targets:
            session.out.put(frame)


class GrpcHubServer:
    """The hub, embedded in the control center or run alone (`feddeck hub --grpc`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: WireLimits | None = None,
        authenticate: Authenticator | None = None,
        max_streams: int = 512,
        server_credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.host, self.requested_port = host, port
        self.limits = limits or WireLimits()
        self.servicer = HubServicer(authenticate)
        self._max_streams = max_streams
        self._credentials = server_credentials
        self._server: grpc.Server | None = None
        self.port = port

    @property
    def url(self) -> str:
        scheme = "grpcs" if self._credentials else "grpc"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> GrpcHubServer:
        # Each stream holds a worker thread for as long as the node is connected.
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self._max_streams, thread_name_prefix="grpc-hub"),
            options=channel_options(self.limits, server=True),
            maximum_concurrent_rpcs=self._max_streams,
        )
        hub_pb2_grpc.add_HubServicer_to_server(self.servicer, server)
        address = f"{self.host}:{self.requested_port or self.port}"
        if self._credentials:
            self.port = server.add_secure_port(address, self._credentials)
        else:
            self.port = server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"gRPC hub could not bind {address}")
        server.start()
        self._server = server
        return self

    def stop(self, grace: float | None = 0.5) -> None:
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None

    def wait(self) -> None:
        if self._server is not None:
            self._server.wait_for_termination()

    def __enter__(self) -> GrpcHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
