"""The control center's ear on the hub: persist what flows, in batches, and tell listeners.

Messages arrive on the hub's dispatch thread and are only queued there. A writer thread
drains the queue every `flush_interval_s` and writes one transaction per batch; a batch
that fails is retried message by message so that one bad message cannot lose the others.
Anything malformed is counted and logged, never raised.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.runs.events import EventBus, LiveEvent
from app.services.runs.ingest_records import (
    finite,
    message_time,
    record_edge_status,
    record_run_status,
    record_sample,
)
from app.services.runs.retention import prune_client_updates, remove_files
from app.storage import Database
from app.storage.models import (
    Edge,
    Job,
    LogLine,
    ModelArtifact,
    RoundMetric,
)
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)
INGEST_PATTERNS = (
    topics.edge_pattern("+", "status"),
    topics.edge_pattern("+", "system"),
    *(
        topics.run_pattern("+", "+", "+", kind)
        for kind in ("status", "metrics", "logs", "artifacts")
    ),
)
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


@dataclass
class IngestStats:
    received: int = 0
    run_received: int = 0  # of which a run's traffic (not heartbeats)
    stored: int = 0
    dropped: int = 0
    batches: int = 0


def storage_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100), or a plain ENOSPC, anywhere
    in the chain (SQLite rolls the whole transaction back on SQLITE_FULL, so what surfaces
    is often the failed savepoint rollback that followed)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        if (
            "database or disk is full" in text
            or "no space left on device" in text
            or getattr(getattr(exc, "orig", None), "sqlstate", None) == "53100"
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class IngestService:
    def __init__(
        self,
        db: Database,
        hub: Hub,
        events: EventBus | None = None,
        flush_interval_s: float = 0.25,
        batch_max: int = 2000,
    ) -> None:
        self.db, self.hub = db, hub
        self.events = events or EventBus()
        self.stats = IngestStats()
        self._flush_interval = flush_interval_s
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._edges: dict[str, tuple[int, str]] = {}  # device id -> (edge id, name)
        self._writer = threading.Thread(target=self._write_loop, name="feddeck-ingest", daemon=True)
        self._subscriptions: list = []
        self._idle = threading.Condition()
        self._pending = 0
        self._doomed: list[Path] = []  # files whose rows this batch drops (retention)
        self._last_full_report = -1e9

    def start(self) -> IngestService:
        # Only what is stored: model payloads (model/up, model/down) never reach the center.
        self._subscriptions = [self.hub.subscribe(p, self._on_message) for p in INGEST_PATTERNS]
        self._writer.start()
        return self

    def stop(self) -> None:
        for sub in self._subscriptions:
            self.hub.unsubscribe(sub)
        self._subscriptions = []
        self._stop.set()
        self._writer.join(timeout=10)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything received so far is written (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def settle(self, quiet_s: float = 0.5, timeout: float = 15.0) -> bool:
        """Wait until no run traffic arrived for `quiet_s` and everything is written: a
        server's last messages may still be crossing the broker when its process ended.
        (Heartbeats never stop, so they do not count.)"""
        deadline = time.monotonic() + timeout
        seen = -1
        while seen != self.stats.run_received:
            seen = self.stats.run_received
            if not self.drain(max(0.0, deadline - time.monotonic())):
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(quiet_s)
        return True

    def _on_message(self, topic: str, message: Message) -> None:
        self.stats.received += 1
        if "/run/" in topic:
            self.stats.run_received += 1
        with self._idle:
            self._pending += 1
        self._queue.put((topic, message))

    # -- writer thread --------------------------------------------------------------------
    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._take_batch()
            if batch:
                self._write(batch)
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _take_batch(self) -> list[tuple[str, Message]]:
        try:
            batch = [self._queue.get(timeout=self._flush_interval)]
        except queue.Empty:
            return []
        while len(batch) < self._batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[tuple[str, Message]]) -> None:
        events: list[LiveEvent] = []
        try:
            with self.db.session() as s:
                for topic, message in batch:
                    events.extend(self._apply_safely(s, topic, message))
            self.stats.batches += 1
            remove_files(self._doomed)  # committed: no row names them any more
        except Exception:
            log.exception("ingest batch of %d failed; retrying one by one", len(batch))
            events = []
            lost: Exception | None = None
            dropped = self.stats.dropped
            for topic, message in batch:
                self._doomed = []
                try:
                    with self.db.session() as s:
                        events.extend(self._apply_safely(s, topic, message))
                    remove_files(self._doomed)
                except Exception as exc:
                    self.stats.dropped += 1
                    lost = exc
                    log.warning("ingest dropped a message on %s: %s", topic, exc)
            if lost is not None and storage_full(lost):  # the window says so, once a minute
                now = time.monotonic()
                if now - self._last_full_report > 60:
                    self._last_full_report = now
                    text = (
                        "disk full while writing the database: "
                        f"{self.stats.dropped - dropped} messages could not be recorded"
                    )
                    events.append(LiveEvent("storage", data={"error": text}))
        self._doomed = []
        for event in events:
            self.events.emit(event)

    def _apply_safely(self, s: Session, topic: str, message: Message) -> list[LiveEvent]:
        levels = topic.split("/")
        try:
            if levels[-1] == "system" and levels[:2] == ["fd", "edge"]:
                # Heartbeats, the bulk of the traffic, change nothing before they are known
                # to be valid: no savepoint (and its flush), so a batch inserts them at once.
                out = self._apply(s, levels, message)
            else:
                with s.begin_nested():
                    out = self._apply(s, levels, message)
        except (ValueError, TypeError, KeyError, LookupError) as exc:
            self.stats.dropped += 1
            log.warning("ingest ignored a message on %s from %s: %s", topic, message.sender, exc)
            return []
        self.stats.stored += 1
        return out

    def _edge(self, s: Session, device_id: str) -> tuple[int, str]:
        found = self._edges.get(device_id)
        if found is None:
            row = s.execute(select(Edge.id, Edge.name).where(Edge.device_id == device_id)).first()
            if row is None:
                raise LookupError(f"no edge with device id {device_id!r}")
            found = self._edges[device_id] = (row[0], row[1])
        return found

    def node_name(self, s: Session, node: str) -> str:
        return node if node in ("server", "aggregate", "center") else self._edge(s, node)[1]

    def _apply(self, s: Session, levels: list[str], m: Message) -> list[LiveEvent]:
        if len(levels) == 4 and levels[:2] == ["fd", "edge"]:
            return self._apply_edge(s, levels[2], levels[3], m)
        if len(levels) >= 6 and levels[2] == "run":
            job_id, node, kind = int(levels[3]), levels[4], "/".join(levels[5:])
            if m.job_id is not None and m.job_id != job_id:
                raise ValueError(f"message for run {m.job_id} on the topic of run {job_id}")
            return self._apply_run(s, job_id, node, kind, m)
        return []  # other traffic (model payloads, control) is not stored here

    def _apply_edge(self, s: Session, device: str, kind: str, m: Message) -> list[LiveEvent]:
        if kind in ("status", "system") and m.sender != device:
            raise ValueError(f"{m.sender!r} published on the channel of {device!r}")
        edge_id, name = self._edge(s, device)
        # Held for the whole batch: the session only keeps clean objects weakly, and a get
        # that misses would flush every pending sample and SELECT the edge again.
        held = s.info.setdefault("edges", {})
        edge = held.get(edge_id)
        if edge is None:
            edge = held[edge_id] = s.get(Edge, edge_id)
        if edge is None:  # removed since it was cached: its late messages have no owner
            self._edges.pop(device, None)
            raise LookupError(f"edge {name!r} was removed")
        if kind == "status" and m.type == MessageType.STATUS:
            return record_edge_status(s, edge, name, m)
        if kind == "system" and m.type == MessageType.SYSTEM:
            return record_sample(s, edge, name, m)
        return []

    def _apply_run(
        self, s: Session, job_id: int, node: str, kind: str, m: Message
    ) -> list[LiveEvent]:
        job = s.get(Job, job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        if node not in ("server", "center") and m.sender != node:
            raise ValueError(f"{m.sender!r} published as {node!r}")
        name = self.node_name(s, node)
        if kind == "metrics" and m.type == MessageType.METRICS:
            rnd = int(m.round or 0)
            who = "aggregate" if node == "server" else name
            values = {str(k): finite(v, str(k)) for k, v in dict(m.body["values"]).items()}
            s.add_all(
                RoundMetric(job_id=job_id, round=rnd, node=who, name=k, value=v, at=message_time(m))
                for k, v in values.items()
            )
            return [LiveEvent("metric", job_id, {"round": rnd, "node": who, "values": values})]
        if kind == "logs" and m.type == MessageType.LOG:
            level = str(m.body.get("level", "INFO")).upper()
            level = level if level in LEVELS else "INFO"
            text = str(m.body["text"])[:10_000]
            s.add(LogLine(job_id=job_id, node=name, at=message_time(m), level=level, text=text))
            return [
                LiveEvent(
                    "log", job_id, {"node": name, "at": m.created_at, "level": level, "text": text}
                )
            ]
        if kind == "artifacts" and m.type == MessageType.ARTIFACT and node == "server":
            b = m.body
            owner = b["node"]
            edge_id = None if owner == "aggregate" else self._edge(s, owner)[0]
            row = ModelArtifact(
                job_id=job_id,
                round=int(b["round"]),
                edge_id=edge_id,
                path=str(b["path"]),
                sha256=str(b["sha256"]),
                bytes=int(b["bytes"]),
            )
            s.add(row)
            s.flush()  # the row id goes out with the event
            if owner == "aggregate":
                self._doomed += prune_client_updates(s, job, row.round)
            data = {
                "id": row.id,
                "round": row.round,
                "node": self.node_name(s, owner),
                "path": row.path,
                "sha256": row.sha256,
                "bytes": row.bytes,
            }
            return [LiveEvent("artifact", job_id, data)]
        if kind == "status" and m.type == MessageType.STATUS and node == "server":
            return record_run_status(job, m)
        return []
