"""Hubs by URL. Backends are imported lazily: a node loads only the transport it uses.

local://NAME             in-process router NAME (tests, simulation)
mqtt://HOST:PORT         MQTT broker (embedded amqtt, Mosquitto, EMQX, ...)
mqtts://HOST:PORT?ca=F&cert=F&key=F     the same over TLS (cert/key: mutual TLS)
grpc://HOST:PORT         FedDeck gRPC hub
grpcs://HOST:PORT?ca=F&cert=F&key=F     the same over TLS
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from app.config import validate_hub_url
from app.errors import InvalidInput
from app.wire.hub import Hub
from app.wire.limits import WireLimits


def _query(url: str) -> dict[str, str]:
    params = parse_qs(urlparse(url).query)
    unknown = set(params) - {"ca", "cert", "key"}
    if unknown:
        raise InvalidInput(f"hub URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
    return {k: v[-1] for k, v in params.items()}


def create_hub(
    url: str,
    node_id: str,
    *,
    limits: WireLimits | None = None,
    token: str | None = None,
    will_topic: str | None = None,
) -> Hub:
    """A hub client for `url`, not yet connected: call connect()."""
    validate_hub_url(url)
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme == "local":
        from app.backends.local import LocalHub

        return LocalHub(node_id, name=parsed.netloc or "default", limits=limits)
    tls = _query(url)
    if scheme in ("mqtt", "mqtts"):
        from app.backends.mqtt.client import MqttHub, MqttOptions

        options = MqttOptions(
            host=parsed.hostname or "",
            port=parsed.port or 1883,
            tls=scheme == "mqtts",
            ca_file=tls.get("ca"),
            cert_file=tls.get("cert"),
            key_file=tls.get("key"),
            # The token's id part: an edge's device id, or the service user.
            username=token.partition(".")[0] if token else None,
            password=token,
            will_topic=will_topic,
        )
        return MqttHub(node_id, options, limits)
    if scheme in ("grpc", "grpcs"):
        from app.backends.grpc.client import GrpcHub, GrpcOptions

        options = GrpcOptions(
            target=f"{parsed.hostname}:{parsed.port}",
            tls=scheme == "grpcs",
            ca_file=tls.get("ca"),
            cert_file=tls.get("cert"),
            key_file=tls.get("key"),
            token=token,
            will_topic=will_topic,
        )
        return GrpcHub(node_id, options, limits)
    raise InvalidInput(f"hub URL {url!r}: an embedded hub must be started before connecting")
