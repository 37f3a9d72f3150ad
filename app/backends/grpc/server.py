"""The gRPC hub service: routes chunks between node streams by topic pattern.

One bidirectional stream per node. A reader thread takes the node's frames; the stream's
own handler thread writes what is routed to it. The hub never decodes chunks: it routes
bytes, so a large model passes through without being reassembled here.
"""

from __future__ import annotations

import errno
import logging
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from app.backends.base import RefusalLog
from app.backends.grpc import hub_pb2, hub_pb2_grpc
from app.errors import FedDeckError
from app.wire import topics
from app.wire.chunking import CHUNK_OVERHEAD, WireLimits
from app.wire.hub import AccessPolicy

log = logging.getLogger(__name__)
_END = object()
FRAME_SLACK = 64 * 1024  # protobuf framing and the topic string, on top of a chunk

# An acknowledgement of the empty pattern: sent first, once the node was let in.
WELCOME = hub_pb2.Frame(subscribe=hub_pb2.Subscribe(pattern=""))
# A node's last frame when it closes cleanly. The end of its request stream cannot tell:
# a killed node's stream may end the same way before its cancellation is seen.
GOODBYE = hub_pb2.Frame(unsubscribe=hub_pb2.Unsubscribe(pattern=""))
REVALIDATE_S = 2.0  # how soon a removed edge's live stream is cut


class _Denied:
    """Queued to a stream to end it with a status (revoked, forbidden subscription)."""

    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        self.code, self.reason = code, reason


def channel_options(limits: WireLimits, server: bool = False) -> list[tuple[str, int]]:
    """Frame limit just above one chunk; keepalives so a dead peer is noticed in seconds
    (a ping every 10 s, answered within 5 s). A server never shares its port: grpcio
    binds with SO_REUSEPORT by default, and two hubs on one port would split the nodes."""
    size = limits.chunk_size + CHUNK_OVERHEAD + FRAME_SLACK
    options = [
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        # grpcio ≥ 1.6x waits this long for a ping's answer (a minute by default), whatever
        # keepalive_timeout says: without it a silent peer is kept for over a minute
        ("grpc.http2.ping_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    if server:  # accept the clients' pings instead of answering them with GOAWAY
        options += [
            ("grpc.so_reuseport", 0),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
            ("grpc.http2.max_ping_strikes", 0),
        ]
    return options


class _Session:
    def __init__(self, node_id: str, principal: Any = None, will: hub_pb2.Frame | None = None):
        self.node_id = node_id
        self.principal = principal
        self.patterns: set[str] = set()
        self.out: queue.SimpleQueue = queue.SimpleQueue()
        self.will = will  # routed if the stream ends without the node closing it
        self.closed_by_node = False


class HubServicer(hub_pb2_grpc.HubServicer):
    def __init__(self, access: AccessPolicy | None = None) -> None:
        self._access = access
        self._sessions: set[_Session] = set()
        self._lock = threading.Lock()
        self.refused = Counter()  # what the access policy refused, by kind
        self._refusals = RefusalLog(log, "gRPC")
        self.stopping = False  # the hub going down: its nodes did not vanish

    def Connect(self, request_iterator, context) -> Iterator[hub_pb2.Frame]:
        metadata = dict(context.invocation_metadata())
        node_id = metadata.get("node-id", "")
        if not isinstance(node_id, str):
            node_id = ""
        if not node_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node-id metadata is required")
        principal = None
        if self._access is not None:
            token = metadata.get("authorization", "").removeprefix("Bearer ").strip()
            try:
                principal = self._access.authenticate(node_id, token)
            except FedDeckError as exc:
                self.refused["connect"] += 1
                self._refusals.refused(node_id, exc)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        session = _Session(node_id, principal, self._will(context, node_id, principal, metadata))
        session.out.put(WELCOME)  # the node knows it is in only once this arrives
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
                if isinstance(item, _Denied):
                    context.abort(item.code, item.reason)
                yield item
        finally:
            with self._lock:
                self._sessions.discard(session)
            if session.will is not None and not session.closed_by_node and not self.stopping:
                log.info("%s: stream lost; publishing its will", node_id)
                self._route(session.will)

    def _will(self, context, node_id: str, principal: Any, metadata: dict) -> hub_pb2.Frame | None:
        """The node's last will from its metadata, as MQTT has it: a topic it may publish
        to and one chunk (its OFFLINE status), sent if its stream is lost."""
        topic, chunk = metadata.get("will-topic"), metadata.get("will-bin")
        if not topic:
            return None
        if not isinstance(topic, str) or not isinstance(chunk, bytes) or not chunk:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "will-topic needs a will-bin chunk")
        if len(chunk) > 64 * 1024:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a will is one small chunk")
        if "+" in topic or "#" in topic:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "will-topic may hold no wildcard")
        try:
            topics.validate_pattern(topic)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"will-topic: {exc}")
        if self._access is not None and not self._access.may_publish(principal, topic):
            self.refused["publish"] += 1
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"{node_id} may not leave a will on {topic}"
            )
        return hub_pb2.Frame(publish=hub_pb2.Publish(topic=topic, chunk=chunk))

    def _read(self, session: _Session, frames: Iterator[hub_pb2.Frame]) -> None:
        try:
            for frame in frames:
                kind = frame.WhichOneof("kind")
                if kind == "publish":
                    if self._allowed(session, "publish", frame.publish.topic):
                        self._route(frame)
                elif kind == "subscribe":
                    pattern = frame.subscribe.pattern
                    try:
                        topics.validate_pattern(pattern)
                    except ValueError as exc:
                        log.warning("%s: bad subscription: %s", session.node_id, exc)
                        continue
                    if not self._allowed(session, "subscribe", pattern):
                        reason = f"{session.node_id} may not subscribe to {pattern}"
                        session.out.put(_Denied(grpc.StatusCode.PERMISSION_DENIED, reason))
                        return
                    session.patterns.add(pattern)
                    session.out.put(frame)  # the acknowledgement
                elif kind == "unsubscribe":
                    if frame.unsubscribe.pattern == GOODBYE.unsubscribe.pattern:
                        session.closed_by_node = True  # a clean close: no will
                    else:
                        session.patterns.discard(frame.unsubscribe.pattern)
        except grpc.RpcError:
            pass  # the node went away; the stream's callback ends the session
        except Exception:
            log.exception("%s: hub stream reader failed", session.node_id)
        finally:
            session.out.put(_END)

    def _allowed(self, session: _Session, action: str, topic: str) -> bool:
        if self._access is None:
            return True
        check = self._access.may_publish if action == "publish" else self._access.may_subscribe
        if check(session.principal, topic):
            return True
        self.refused[action] += 1
        log.warning("%s may not %s %s: refused", session.node_id, action, topic)
        return False

    def revalidate(self) -> int:
        """Cut the streams of nodes whose credentials were revoked; how many were cut."""
        if self._access is None:
            return 0
        with self._lock:
            sessions = list(self._sessions)
        cut = 0
        for session in sessions:
            if not self._access.still_valid(session.principal):
                session.out.put(_Denied(grpc.StatusCode.UNAUTHENTICATED, "credentials revoked"))
                cut += 1
        return cut

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
        access: AccessPolicy | None = None,
        max_streams: int = 512,
        server_credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.host, self.requested_port = host, port
        self.limits = limits or WireLimits()
        self.servicer = HubServicer(access)
        self._access = access
        self._revalidating = threading.Event()
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
        try:
            if self._credentials:
                self.port = server.add_secure_port(address, self._credentials)
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError:  # grpcio's "Failed to bind": the port is held
            self.port = 0
        if not self.port:
            raise OSError(errno.EADDRINUSE, f"gRPC hub could not bind {address}")
        server.start()
        self._server = server
        if self._access is not None:
            watch = threading.Thread(target=self._revalidate_loop, daemon=True, name="hub-auth")
            watch.start()
        return self

    def _revalidate_loop(self) -> None:
        while not self._revalidating.wait(REVALIDATE_S):
            try:
                self.servicer.revalidate()
            except Exception:  # the database may be briefly busy; next round
                log.exception("revalidating hub connections failed")

    def stop(self, grace: float | None = 0.5) -> None:
        self._revalidating.set()
        self.servicer.stopping = True
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


def serve(host: str, port: int, *, limits=None, access=None, tls=None) -> GrpcHubServer:
    """The transport registry's server builder: a gRPC hub started on host:port."""
    credentials = None
    if tls is not None:  # embedded.ServerTls
        credentials = grpc.ssl_server_credentials(
            [(tls.key.read_bytes(), tls.cert.read_bytes())],
            root_certificates=tls.ca.read_bytes() if tls.mutual else None,
            require_client_auth=tls.mutual,
        )
    return GrpcHubServer(
        host, port, limits=limits, access=access, server_credentials=credentials
    ).start()
