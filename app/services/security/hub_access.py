"""Who may connect to a hub FedDeck runs, and what each connection may publish and read.

Two kinds of principal:

- an edge, with its own token (`<device id>.<secret>`, checked against the stored hash).
  It may publish only under its own node id — `fd/edge/<me>/{status,system}` and
  `fd/<project>/run/<run>/<me>/{status,metrics,logs,model/up}` for runs it takes part
  in — and read only `fd/edge/<me>/control` and the server's `model/down` and `control`
  of those runs. So it cannot pose as another edge or the server, nor read other runs'
  or projects' models. In a server-free run it also pushes to
  `fd/<project>/run/<run>/<to>/inbox/<me>` for each out-neighbour `<to>` of its run's trust
  graph, and reads `.../<me>/inbox/<from>` for each in-neighbour: no other edge's inbox.
- a FedDeck service (control center, FL servers, CLI), with the hub secret kept in the
  data dir (`feddeck-service.<secret>`): everything.

Run membership comes from the database (cached for a second or two); a removed edge is
refused at once, and hubs drop its live connections when `still_valid` says so.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from app.core.peer.graph import peer_links
from app.errors import AuthenticationFailed
from app.services.security.tokens import hash_token
from app.storage import Database
from app.storage.models import Edge, Job, JobEdge, Project, utcnow
from app.wire import topics

EDGE_PUBLISH_OWN = ("status", "system")
EDGE_PUBLISH_RUN = ("status", "metrics", "logs", "model/up")
EDGE_READ_RUN = ("model/down", "control")
RUN_GRACE = timedelta(minutes=2)  # an edge's last words after its run ended still count
CACHE_S = 2.0


@dataclass(frozen=True)
class Principal:
    node: str  # the node id the connection speaks as
    kind: str  # "edge" | "service"

    @property
    def is_service(self) -> bool:
        return self.kind == "service"


class HubAccess:
    @classmethod
    def for_settings(cls, db: Database, settings) -> HubAccess:
        return cls(db, settings.hub_token)

    def __init__(self, db: Database, service_token: str) -> None:
        self._db = db
        self._service_token = service_token
        self._runs: dict[str, tuple[float, frozenset[tuple[str, str]]]] = {}
        self._graphs: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    # -- connecting ---------------------------------------------------------------------
    def authenticate(self, node: str, token: str) -> Principal:
        """The principal for a connection claiming to be `node`; AuthenticationFailed if
        the token is wrong, revoked, or belongs to another node."""
        if not token:
            raise AuthenticationFailed("this hub needs a token")
        if hmac.compare_digest(token.encode(), self._service_token.encode()):
            return Principal(node, "service")
        device_id, _, secret = token.partition(".")
        if not device_id or not secret:
            raise AuthenticationFailed("malformed token")
        with self._db.session() as s:
            stored = s.scalar(select(Edge.token_hash).where(Edge.device_id == device_id))
        if stored is None or not hmac.compare_digest(stored, hash_token(token)):
            raise AuthenticationFailed("unknown or revoked edge token")
        if node != device_id:
            raise AuthenticationFailed(f"token of {device_id} used to connect as {node!r}")
        return Principal(node, "edge")

    def still_valid(self, principal: Principal) -> bool:
        """False once the edge was removed (or its token replaced): hubs drop it."""
        if principal.is_service:
            return True
        with self._db.session() as s:
            return s.scalar(select(Edge.id).where(Edge.device_id == principal.node)) is not None

    # -- topics -------------------------------------------------------------------------
    def may_publish(self, principal: Principal, topic: str) -> bool:
        if principal.is_service:
            return True
        levels = topic.split("/")
        me = principal.node
        if levels[:3] == [topics.ROOT, "edge", me]:
            return "/".join(levels[3:]) in EDGE_PUBLISH_OWN
        if len(levels) >= 6 and levels[0] == topics.ROOT and levels[2] == "run":
            kind = "/".join(levels[5:])
            if len(levels) == 7 and levels[5] == "inbox":  # to an out-neighbour, as me
                return levels[6] == me and self._linked(me, levels[4], levels)
            return levels[4] == me and kind in EDGE_PUBLISH_RUN and self._in_run(me, levels)
        return False

    def may_subscribe(self, principal: Principal, pattern: str) -> bool:
        if principal.is_service:
            return True
        if "+" in pattern or "#" in pattern:  # an edge names exactly what it reads
            return False
        levels = pattern.split("/")
        if levels == [topics.ROOT, "edge", principal.node, "control"]:
            return True
        if len(levels) >= 6 and levels[0] == topics.ROOT and levels[2] == "run":
            kind = "/".join(levels[5:])
            if len(levels) == 7 and levels[5] == "inbox":  # from an in-neighbour, to me
                return levels[4] == principal.node and self._linked(levels[6], levels[4], levels)
            return (
                levels[4] == topics.SERVER
                and kind in EDGE_READ_RUN
                and self._in_run(principal.node, levels)
            )
        return False

    def _in_run(self, device_id: str, levels: list[str]) -> bool:
        key = (levels[1], levels[3])  # (project, run id)
        if key in self._runs_of(device_id):
            return True
        return key in self._runs_of(device_id, fresh=True)  # a run that started just now

    def _linked(self, sender: str, to: str, levels: list[str]) -> bool:
        """Whether the run's trust graph has the link sender → to (both in the run)."""
        if not self._in_run(sender, levels) or not self._in_run(to, levels):
            return False
        return (sender, to) in self._graph_of(levels[1], levels[3])

    def _graph_of(self, project: str, run: str) -> frozenset[tuple[str, str]]:
        """A server-free run's links, by device id (empty for any other run); the graph
        of a run never changes, so it is read once."""
        key = (project, run)
        with self._lock:
            if key in self._graphs:
                return self._graphs[key]
        links: frozenset[tuple[str, str]] = frozenset()
        with self._db.session() as s:
            job = s.get(Job, int(run)) if run.isdigit() else None
            if job is not None and job.project.name == project:
                devices = dict(
                    s.execute(
                        select(Edge.name, Edge.device_id)
                        .join(JobEdge, JobEdge.edge_id == Edge.id)
                        .where(JobEdge.job_id == job.id)
                    ).all()
                )
                links = peer_links(job.config_snapshot, devices)
        with self._lock:
            self._graphs[key] = links
        return links

    def _runs_of(self, device_id: str, fresh: bool = False) -> frozenset[tuple[str, str]]:
        now = time.monotonic()
        with self._lock:
            cached = self._runs.get(device_id)
            if cached and now - cached[0] < (0.25 if fresh else CACHE_S):
                return cached[1]
        since = utcnow() - RUN_GRACE
        query = (
            select(Project.name, Job.id)
            .join(Job, Job.project_id == Project.id)
            .join(JobEdge, JobEdge.job_id == Job.id)
            .join(Edge, Edge.id == JobEdge.edge_id)
            .where(Edge.device_id == device_id)
            .where((Job.finished_at.is_(None)) | (Job.finished_at > since))
        )
        with self._db.session() as s:
            runs = frozenset((name, str(job_id)) for name, job_id in s.execute(query))
        with self._lock:
            self._runs[device_id] = (now, runs)
        return runs
