"""amqtt plugin that puts the embedded broker behind an AccessPolicy: credentials checked
on CONNECT, every PUBLISH and SUBSCRIBE checked against the connection's principal.

amqtt builds plugins from a dotted path and a config dict, so the policy is handed over
through a registry keyed by a string in that config.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from app.backends.base import RefusalLog
from app.errors import FedDeckError
from app.wire.hub import AccessPolicy

log = logging.getLogger(__name__)
_REGISTRY: dict[str, BrokerAccess] = {}
_registry_lock = threading.Lock()


class BrokerAccess:
    """A policy and the principals of the broker's live connections, by client id."""

    def __init__(self, policy: AccessPolicy) -> None:
        self.policy = policy
        self.principals: dict[str, Any] = {}
        self.refused: Counter = Counter()
        self.refusals = RefusalLog(log, "MQTT")
        self.key = f"access-{id(self):x}"
        with _registry_lock:
            _REGISTRY[self.key] = self

    def release(self) -> None:
        with _registry_lock:
            _REGISTRY.pop(self.key, None)


class AccessPlugin(BaseAuthPlugin, BaseTopicPlugin):
    @dataclass
    class Config:
        key: str = ""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.access = _REGISTRY[self.context.config.key]

    async def authenticate(self, *, session) -> bool:
        node, token = session.username or "", session.password or ""
        if node == "feddeck-service":  # services name themselves by client id
            node = (session.client_id or "").rsplit("-", 1)[0]
        try:
            principal = await asyncio.to_thread(self.access.policy.authenticate, node, token)
        except FedDeckError as exc:
            self.access.refused["connect"] += 1
            self.access.refusals.refused(session.client_id, exc)
            return False
        self.access.principals[session.client_id] = principal
        return True

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        if action == Action.RECEIVE or session is None:
            return True  # the subscription was checked when it was made
        principal = self.access.principals.get(session.client_id)
        if principal is None:
            return False
        if getattr(principal, "is_service", False):
            return True  # FedDeck's own nodes: no lookup, no hop to a thread
        policy = self.access.policy
        check = policy.may_publish if action == Action.PUBLISH else policy.may_subscribe
        allowed = await asyncio.to_thread(check, principal, topic)
        if not allowed:
            self.access.refused[str(action)] += 1
            log.warning("%s may not %s %s: refused", session.client_id, action, topic)
        return allowed

    async def on_broker_client_disconnected(self, *, client_id: str, client_session) -> None:
        self.access.principals.pop(client_id, None)


async def drop_revoked(access: BrokerAccess, broker) -> int:
    """Close the connections of clients the policy no longer accepts (removed edges)."""
    cut = 0
    for client_id, principal in list(access.principals.items()):
        if await asyncio.to_thread(access.policy.still_valid, principal):
            continue
        access.principals.pop(client_id, None)
        entry = broker._sessions.get(client_id)  # amqtt keeps (session, handler) here
        if entry is not None and entry[1] is not None and entry[1].writer is not None:
            await entry[1].writer.close()
            cut += 1
            log.warning("dropped %s: credentials revoked", client_id)
    return cut
