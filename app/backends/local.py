"""In-process hub: nodes in one process share a named router. Same chunks, same checks."""

from __future__ import annotations

import threading

from app.backends.base import BaseHub
from app.wire import topics
from app.wire.hub import HubError, HubState
from app.wire.limits import WireLimits


class LocalRouter:
    """Routes chunks between the LocalHubs attached to it, in publish order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[int, LocalHub] = {}

    def attach(self, hub: LocalHub) -> None:
        with self._lock:
            self._members[id(hub)] = hub

    def detach(self, hub: LocalHub) -> None:
        with self._lock:
            self._members.pop(id(hub), None)

    def route(self, topic: str, chunk: bytes) -> None:
        with self._lock:
            members = list(self._members.values())
        for hub in members:
            if any(topics.matches(p, topic) for p in hub.remote_patterns()):
                hub._on_chunk(topic, chunk)

    def restart(self) -> None:
        """Drop every connection, as a broker restart would; hubs reconnect by themselves."""
        with self._lock:
            members = list(self._members.values())
            self._members.clear()
        for hub in members:
            hub._lost()


_routers: dict[str, LocalRouter] = {}
_routers_lock = threading.Lock()


def router(name: str = "default") -> LocalRouter:
    with _routers_lock:
        found = _routers.get(name)
        if found is None:
            found = _routers[name] = LocalRouter()
        return found


class LocalHub(BaseHub):
    def __init__(self, node_id: str, name: str = "default", limits: WireLimits | None = None):
        super().__init__(node_id, limits)
        self._router = router(name)
        self._remote: set[str] = set()
        self._remote_lock = threading.Lock()

    def remote_patterns(self) -> list[str]:
        with self._remote_lock:
            return list(self._remote)

    def connect(self, timeout: float = 10.0) -> None:
        self._set_state(HubState.CONNECTING)
        self._router.attach(self)
        with self._remote_lock:
            self._remote = set(self._patterns())
        self._set_state(HubState.CONNECTED)

    def _lost(self) -> None:
        # In-process there is nothing to wait for: reconnect at once, subscriptions renewed.
        self._set_state(HubState.RECONNECTING)
        if self.state != HubState.CLOSED:
            self.connect()

    def _send_chunk(self, topic: str, chunk: bytes) -> None:
        if self.state != HubState.CONNECTED:
            raise HubError(f"{self.node_id} is not connected")
        self._router.route(topic, chunk)

    def _backend_subscribe(self, pattern: str) -> None:
        with self._remote_lock:
            self._remote.add(pattern)

    def _backend_unsubscribe(self, pattern: str) -> None:
        with self._remote_lock:
            self._remote.discard(pattern)

    def _backend_close(self) -> None:
        self._router.detach(self)


def hub_from_url(url, node_id: str, *, limits=None, token=None, will_topic=None) -> LocalHub:
    """The transport registry's client builder: local://NAME joins router NAME."""
    return LocalHub(node_id, name=url.host, limits=limits)


class _Served:
    """`embedded://local`: routers exist on first use, so there is nothing to start."""

    url = "local://default"

    def stop(self) -> None:
        pass


def serve(host: str, port: int, *, limits=None, access=None, tls=None) -> _Served:
    return _Served()
