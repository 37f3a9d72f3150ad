"""Edge devices: registration with a one-time token, tags, status, removal.

A token is `<device id>.<secret>`. Only its SHA-256 is stored: tokens are 256-bit random,
so a fast hash is as safe as argon2 here and keeps every hub connection check cheap.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from app.services.entities.records import EdgeRecord, NewEdge
from app.services.security.auth import Actor, require, validate_name
from app.services.security.mosquitto_config import mosquitto_hash
from app.services.security.tokens import hash_token
from app.storage import Database
from app.storage.models import Edge, EdgeStatus, Role, utcnow


def _record(e: Edge) -> EdgeRecord:
    return EdgeRecord(
        id=e.id,
        name=e.name,
        device_id=e.device_id,
        tags=list(e.tags),
        status=e.status,
        last_seen=e.last_seen,
        hardware=dict(e.hardware),
        data_keys=list(e.data_keys or []),
    )


def set_token(edge: Edge, token: str) -> None:
    edge.token_hash = hash_token(token)
    edge.mqtt_password_hash = mosquitto_hash(token)


def _clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned = sorted({t.strip() for t in tags if t.strip()})
    for tag in cleaned:
        validate_name("tag", tag)
    return cleaned


def get_edge(s: Session, name: str) -> Edge:
    edge = s.scalar(select(Edge).where(Edge.name == name))
    if edge is None:
        raise NotFound(f"no edge named {name!r}")
    return edge


class EdgeService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def register(self, actor: Actor, name: str, tags: Iterable[str] = ()) -> NewEdge:
        require(actor, Role.OPERATOR, "register edges")
        validate_name("edge", name)
        clean = _clean_tags(tags)
        device_id = secrets.token_hex(8)
        token = f"{device_id}.{secrets.token_urlsafe(32)}"
        with self._db.session() as s:
            if s.scalar(select(Edge.id).where(Edge.name == name)):
                raise Conflict(f"edge {name!r} exists already")
            edge = Edge(name=name, device_id=device_id, tags=clean)
            set_token(edge, token)
            s.add(edge)
            s.flush()
            return NewEdge(edge=_record(edge), token=token)

    def issue_token(self, actor: Actor, name: str) -> NewEdge:
        """A new token for an edge (lost, leaked, or from before Mosquitto hashes): the old
        one stops working at once, and hubs drop connections made with it."""
        require(actor, Role.OPERATOR, "issue edge tokens")
        with self._db.session() as s:
            edge = get_edge(s, name)
            token = f"{edge.device_id}.{secrets.token_urlsafe(32)}"
            set_token(edge, token)
            return NewEdge(edge=_record(edge), token=token)

    def list(self, actor: Actor, tag: str | None = None) -> list[EdgeRecord]:
        require(actor, Role.VIEWER, "list edges")
        with self._db.session() as s:
            edges = [_record(e) for e in s.scalars(select(Edge).order_by(Edge.name))]
        return [e for e in edges if tag is None or tag in e.tags]

    def get(self, actor: Actor, name: str) -> EdgeRecord:
        require(actor, Role.VIEWER, "view edges")
        with self._db.session() as s:
            return _record(get_edge(s, name))

    def rename(self, actor: Actor, name: str, new_name: str) -> EdgeRecord:
        require(actor, Role.OPERATOR, "rename edges")
        validate_name("edge", new_name)
        with self._db.session() as s:
            edge = get_edge(s, name)
            if new_name != name and s.scalar(select(Edge.id).where(Edge.name == new_name)):
                raise Conflict(f"edge {new_name!r} exists already")
            edge.name = new_name
            return _record(edge)

    def set_tags(self, actor: Actor, name: str, tags: Iterable[str]) -> EdgeRecord:
        require(actor, Role.OPERATOR, "tag edges")
        clean = _clean_tags(tags)
        with self._db.session() as s:
            edge = get_edge(s, name)
            edge.tags = clean
            return _record(edge)

    def remove(self, actor: Actor, name: str) -> None:
        require(actor, Role.OPERATOR, "remove edges")
        with self._db.session() as s:
            s.delete(get_edge(s, name))

    def set_status(
        self,
        actor: Actor,
        name: str,
        status: str,
        seen_at: datetime | None = None,
        hardware: dict[str, Any] | None = None,
    ) -> EdgeRecord:
        require(actor, Role.OPERATOR, "change edge status")
        try:
            parsed = EdgeStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in EdgeStatus)
            raise InvalidInput(f"unknown edge status {status!r}: use one of {allowed}") from None
        with self._db.session() as s:
            edge = get_edge(s, name)
            edge.status = parsed.value
            edge.last_seen = seen_at or utcnow()
            if hardware is not None:
                edge.hardware = hardware
            return _record(edge)

    def authenticate(self, token: str) -> EdgeRecord:
        """The edge a hub connection belongs to; refused for unknown or revoked tokens."""
        device_id, _, secret = token.partition(".")
        if not device_id or not secret:
            raise AuthenticationFailed("malformed edge token")
        with self._db.session() as s:
            edge = s.scalar(select(Edge).where(Edge.device_id == device_id))
            if edge is None or not hmac.compare_digest(edge.token_hash, hash_token(token)):
                raise AuthenticationFailed("unknown or revoked edge token")
            return _record(edge)
