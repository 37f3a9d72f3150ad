"""Hubs by URL (the URL forms are in app.wire.transports). A transport's code is imported
only when a node uses it."""

from __future__ import annotations

from app.errors import InvalidInput
from app.wire.hub import Hub
from app.wire.limits import WireLimits
from app.wire.transports import embedded_kind, parse_hub_url


def create_hub(
    url: str,
    node_id: str,
    *,
    limits: WireLimits | None = None,
    token: str | None = None,
    will_topic: str | None = None,
) -> Hub:
    """A hub client for `url`, not yet connected: call connect()."""
    if embedded_kind(url) is not None:
        raise InvalidInput(f"hub URL {url!r}: an embedded hub must be started before connecting")
    parsed = parse_hub_url(url)
    build = parsed.transport.load(parsed.transport.client)
    hub = build(parsed, node_id, limits=limits, token=token, will_topic=will_topic)
    hub.url = url  # where it connects: a node that serves beside the hub listens towards it
    return hub
