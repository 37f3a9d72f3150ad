"""MQTT hub client on paho-mqtt 2.x: QoS 1, subscriptions renewed on every (re)connect,
automatic reconnect with backoff, and a last will so that a dead node is seen OFFLINE."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from app.backends.base import AckWaiter, BaseHub
from app.wire.chunking import CHUNK_OVERHEAD, WireLimits
from app.wire.hub import HubError, HubState

QOS = 1
SUBSCRIBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MqttOptions:
    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None
    will_topic: str | None = None
    keepalive_s: int = 15


class MqttHub(BaseHub):
    def __init__(self, node_id: str, options: MqttOptions, limits: WireLimits | None = None):
        super().__init__(node_id, limits)
        self.options = options
        self._connected = threading.Event()
        self._acks = AckWaiter()  # SUBACKs by message id
        self._refused_subs: set[int] = set()  # SUBACKs that refused (the broker's access rules)
        self.refused = ""  # why the broker last refused this node, if it did
        self._inflight = 0  # chunks handed to paho and not yet acknowledged by the broker
        self._inflight_cv = threading.Condition()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{node_id}-{id(self):x}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.max_inflight_messages_set(64)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        if options.username:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set(
                ca_certs=options.ca_file,
                certfile=options.cert_file,
                keyfile=options.key_file,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if options.will_topic:
            # Sent by the broker if this node vanishes without a clean close.
            client.will_set(options.will_topic, self.will_chunk(), qos=QOS)
        client.on_socket_open = _widen_buffers
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        self._client = client

    def connect(self, timeout: float = 10.0) -> None:
        self._set_state(HubState.CONNECTING)
        self._client.connect_async(self.options.host, self.options.port, self.options.keepalive_s)
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.05):
            if self.refused:
                raise HubError(self.refused)
            if time.monotonic() > deadline:
                raise HubError(
                    f"no MQTT broker answered at {self.options.host}:{self.options.port} "
                    f"within {timeout:.0f} s"
                )

    # paho callbacks: all on paho's network thread.
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            # Refused credentials: say so (connect() raises it); paho keeps retrying with
            # backoff, so an edge whose token is restored gets back in by itself.
            self.refused = f"MQTT broker refused {self.node_id}: {reason_code}"
            self._set_state(HubState.RECONNECTING)
            return
        self.refused = ""
        patterns = self._patterns()
        if not patterns:
            self._mark_connected(None)
            return
        # Connected means subscribed: wait for the SUBACK off this (the network) thread.
        _, mid = client.subscribe([(p, QOS) for p in patterns])
        threading.Thread(target=self._mark_connected, args=(mid,), daemon=True).start()

    def _mark_connected(self, suback_mid: int | None) -> None:
        if suback_mid is not None:
            confirmed = self._acks.expect(suback_mid).wait(SUBSCRIBE_TIMEOUT_S)
            self._acks.forget(suback_mid)
            if not confirmed:
                return  # the broker never confirmed; paho reconnects and we try again
        self._connected.set()
        self._set_state(HubState.CONNECTED)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            self._refused_subs.add(mid)
        self._acks.ack(mid)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if self.state != HubState.CLOSED:
            self._set_state(HubState.RECONNECTING)

    def _on_message(self, client, userdata, msg) -> None:
        self._on_chunk(msg.topic, msg.payload)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._inflight_cv:
            self._inflight -= 1
            self._inflight_cv.notify_all()

    # Hub hooks.
    def _send_chunk(self, topic: str, chunk: bytes) -> None:
        if len(chunk) > self.limits.chunk_size + CHUNK_OVERHEAD:
            raise HubError("chunk over the size limit")  # guarded by split(); never expected
        # Backpressure: keep a bounded window of chunks queued in paho's memory. paho's
        # own lock is taken inside publish() and around on_publish, so never hold ours there.
        with self._inflight_cv:
            while self._inflight >= 256 and self.state != HubState.CLOSED:
                self._inflight_cv.wait(1.0)
            self._inflight += 1
        info = self._client.publish(topic, chunk, qos=QOS)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            with self._inflight_cv:
                self._inflight -= 1
            raise HubError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")

    def flush(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._inflight_cv:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._inflight_cv.wait(left)
        return True

    def _backend_subscribe(self, pattern: str) -> None:
        """Returns once the broker confirmed, so nothing published afterwards is missed."""
        if not self._connected.is_set():
            return  # subscribed with the others on connect
        _, mid = self._client.subscribe(pattern, QOS)
        confirmed = self._acks.expect(mid).wait(SUBSCRIBE_TIMEOUT_S)
        self._acks.forget(mid)
        if not confirmed:
            raise HubError(f"MQTT broker did not confirm the subscription to {pattern!r}")
        if mid in self._refused_subs:
            self._refused_subs.discard(mid)
            raise HubError(f"MQTT broker refused {self.node_id} the subscription {pattern!r}")

    def _backend_unsubscribe(self, pattern: str) -> None:
        if self._connected.is_set():
            self._client.unsubscribe(pattern)

    def _backend_close(self) -> None:
        self.state = HubState.CLOSED
        with self._inflight_cv:
            self._inflight_cv.notify_all()
        self._acks.release_all()
        self._client.disconnect()
        self._client.loop_stop()


def _widen_buffers(client, userdata, sock) -> None:
    """Socket buffers that hold a whole chunk: paho appends each piece it reads to a bytes
    object, so a 1 MiB chunk read in many small pieces is copied many times over."""
    import socket

    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 8 << 20)


def hub_from_url(url, node_id: str, *, limits=None, token=None, will_topic=None) -> MqttHub:
    """The transport registry's client builder: `url` is a checked wire.transports.HubUrl."""
    options = MqttOptions(
        host=url.host,
        port=url.port,
        tls=url.tls,
        ca_file=url.files.get("ca"),
        cert_file=url.files.get("cert"),
        key_file=url.files.get("key"),
        # The token's id part: an edge's device id, or the service user.
        username=token.partition(".")[0] if token else None,
        password=token,
        will_topic=will_topic,
    )
    return MqttHub(node_id, options, limits)
