"""The control center's ingest: a batch keeps every good heartbeat when some are bad, and
moves the edges it hears from out of OFFLINE."""

import uuid

from sqlalchemy import func, select

from app.backends.factory import create_hub
from app.services.runs.ingest import IngestService
from app.storage.models import Edge, EdgeEvent, SystemSample
from app.wire import topics
from app.wire.messages import Message, MessageType
from tests.hubs.conftest import wait_for


def _sample(cpu=10.0, **extra) -> dict:
    return {"cpu": cpu, "mem": 20.0, "disk": 1.0, "net_sent": 5, "net_recv": 7, **extra}


def test_a_batch_keeps_the_good_heartbeats_and_drops_the_bad(services, operator, db):
    url = f"local://ingest-{uuid.uuid4().hex[:8]}"
    a = services.edges.register(operator, "a").edge.device_id
    b = services.edges.register(operator, "b").edge.device_id
    gone = services.edges.register(operator, "gone").edge.device_id
    senders = {d: create_hub(url, d) for d in (a, b, gone)}
    with create_hub(url, "center") as center:
        ingest = IngestService(db, center, flush_interval_s=0.5).start()
        for hub in senders.values():
            hub.connect()
        services.edges.remove(operator, "gone")

        def beat(device, body, as_device=None) -> None:
            hub = senders[as_device or device]
            hub.publish(topics.edge_topic(device, "system"), Message(MessageType.SYSTEM, body=body))

        for i in range(50):
            beat(a, _sample(cpu=float(i)))
            beat(b, _sample(gpu=50.0))
        beat(a, {"mem": 1.0})  # no cpu
        beat(b, _sample(), as_device=a)  # a speaking on b's channel
        beat(gone, _sample())  # removed edge
        beat(a, _sample(cpu="high"))
        wait_for(lambda: ingest.stats.received == 104, 20, "every heartbeat at the center")
        assert ingest.drain(20)
        ingest.stop()
        for hub in senders.values():
            hub.close()
    assert ingest.stats.stored == 100 and ingest.stats.dropped == 4
    with db.session() as s:
        per_edge = dict(
            s.execute(
                select(Edge.name, func.count(SystemSample.id))
                .join(SystemSample, SystemSample.edge_id == Edge.id)
                .group_by(Edge.name)
            ).all()
        )
        assert per_edge == {"a": 50, "b": 50}
        assert s.scalar(select(func.max(SystemSample.cpu))) == 49.0
        edges = {e.name: e for e in s.scalars(select(Edge))}
        assert {e.status for e in edges.values()} == {"IDLE"}  # heard from: no longer OFFLINE
        assert all(e.last_seen is not None for e in edges.values())


def test_status_changes_make_the_connection_history(services, operator, db):
    """Each change of an edge's status is kept (once), and the detail view reads it back
    with the edge's load, its runs and its last error."""
    url = f"local://ingest-{uuid.uuid4().hex[:8]}"
    device = services.edges.register(operator, "pi").edge.device_id
    with create_hub(url, "center") as center, create_hub(url, device) as edge:
        ingest = IngestService(db, center, flush_interval_s=0.2).start()
        edge.connect()

        def say(kind: str, body: dict) -> None:
            mtype = MessageType.STATUS if kind == "status" else MessageType.SYSTEM
            edge.publish(topics.edge_topic(device, kind), Message(mtype, body=body))

        say("system", _sample())  # heard from: OFFLINE -> IDLE
        say("status", {"state": "IDLE"})  # no change: no row
        say("status", {"state": "TRAINING", "hardware": {"cpus": 4, "platform": "Linux"}})
        say("status", {"state": "OFFLINE"})
        say("system", _sample(cpu=55.0))  # back
        wait_for(lambda: ingest.stats.received == 5, 20, "every message at the center")
        assert ingest.drain(20)
        ingest.stop()
    detail = services.edge_history.detail(operator, "pi")
    assert [c.status for c in detail.changes] == ["IDLE", "OFFLINE", "TRAINING", "IDLE"]
    assert detail.edge.hardware == {"cpus": 4, "platform": "Linux"}
    assert [p.cpu for p in detail.load] == [10.0, 55.0]
    assert detail.runs == [] and detail.last_error is None
    services.edges.remove(operator, "pi")
    with db.session() as s:  # the history goes with the edge
        assert s.scalar(select(func.count(EdgeEvent.id))) == 0


def test_two_centers_on_one_hub_store_each_heartbeat_once(services, operator, db):
    """The window and a `feddeck scheduler` both ingest what the hub routes; a heartbeat
    is one row whichever writes it first (on SQLite and PostgreSQL alike)."""
    url = f"local://two-centers-{uuid.uuid4().hex[:8]}"
    device = services.edges.register(operator, "a").edge.device_id
    sender = create_hub(url, device)
    with create_hub(url, "window") as first, create_hub(url, "scheduler") as second:
        ingests = [IngestService(db, hub, flush_interval_s=0.05).start() for hub in (first, second)]
        sender.connect()
        for i in range(60):
            beat = Message(MessageType.SYSTEM, body=_sample(cpu=float(i)))
            sender.publish(topics.edge_topic(device, "system"), beat)
        wait_for(lambda: all(i.stats.received == 60 for i in ingests), 20, "both centers")
        assert all(i.drain(20) for i in ingests)
        for ingest in ingests:
            ingest.stop()
        sender.close()
    with db.session() as s:
        assert s.scalar(select(func.count(SystemSample.id))) == 60
