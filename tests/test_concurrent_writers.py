"""Many writers on one database at once, as in a lab: the window's control center
(ingesting heartbeats, its scheduler renewing leases), a `feddeck scheduler` process, and
four shells running `feddeck` commands, some racing for the same names. Every command is
done or refused with its reason, none sees "database is locked", no row is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.backends.embedded import start_embedded_hub
from app.backends.factory import create_hub
from app.config import Settings
from app.services import Services
from app.services.runs.control_center import ControlCenter
from app.services.security.auth import SYSTEM
from app.services.security.hub_access import HubAccess
from app.storage.models import Config, Edge, Project, SystemSample
from app.wire import topics
from app.wire.messages import Message, MessageType
from tests.hubs.conftest import wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "resources" / "configs" / "digits-mlp-fedavg.toml"
SHELLS, ROUNDS = 4, 3
HEARTBEATS = 400


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_postgres_url")
    return f"sqlite:///{tmp_path / 'deck' / 'feddeck.db'}"


def test_the_window_a_scheduler_and_four_shells_write_at_once(tmp_path, db_url):
    data = tmp_path / "deck"
    settings = Settings.load(data_dir=data, db_url=db_url)
    services = Services.open(settings)
    services.users.create_first_admin("root", "rootpass123")
    sims = [services.edges.register(SYSTEM, f"sim-{i}", tags=["sim"]) for i in range(4)]
    hub = start_embedded_hub(
        "grpc", "127.0.0.1", 0, access=HubAccess.for_settings(services.db, settings)
    )
    env = {
        **os.environ,
        "FEDDECK_USER": "root",
        "FEDDECK_PASSWORD": "rootpass123",
        "PYTHONPATH": str(ROOT),
    }
    base = [sys.executable, "-m", "app", "--data-dir", str(data), "--db-url", db_url]
    base += ["--hub-url", hub.url]
    center = ControlCenter(Settings.load(data_dir=data, db_url=db_url, hub_url=hub.url), services)
    center.start()
    scheduler = subprocess.Popen(
        [*base, "scheduler"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    results: list[tuple[list[str], int, str]] = []
    lock = threading.Lock()

    def shell(k: int) -> None:
        for i in range(ROUNDS):
            for argv in (
                ["edge", "add", f"w{k}-{i}"],
                ["edge", "add", f"shared-{i}"],  # every shell races for this one
                ["project", "create", f"p-{i}"],  # and this
                ["config", "create", "--file", str(CONFIG)],  # each adds a version
            ):
                done = subprocess.run(
                    [*base, *argv, "--json"], env=env, capture_output=True, text=True, check=False
                )
                with lock:
                    results.append((argv, done.returncode, done.stderr))

    def heartbeats(edge) -> None:
        client = create_hub(hub.url, edge.edge.device_id, token=edge.token)
        client.connect(timeout=15)
        body = {"cpu": 1.0, "mem": 2.0, "disk": 3.0, "net_sent": 0, "net_recv": 0}
        for _ in range(HEARTBEATS // len(sims)):
            client.publish(
                topics.edge_topic(edge.edge.device_id, "system"),
                Message(MessageType.SYSTEM, body=body),
            )
            time.sleep(0.02)
        client.flush(10)
        client.close()

    try:
        threads = [threading.Thread(target=shell, args=(k,)) for k in range(SHELLS)]
        threads += [threading.Thread(target=heartbeats, args=(e,)) for e in sims]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        wait_for(lambda: center.ingest.stats.received >= HEARTBEATS, 30, "every heartbeat")
        assert center.ingest.drain(30)
    finally:
        scheduler.terminate()
        _, scheduler_err = scheduler.communicate(timeout=30)
        center.close()
        hub.stop()

    assert len(results) == SHELLS * ROUNDS * 4
    for argv, code, err in results:
        assert "locked" not in err.lower(), (argv, err)
        assert code in (0, 1), (argv, code, err)
        if code == 1:  # refused: it says why, in one line
            assert err.startswith("feddeck: error: ") and "exists already" in err, (argv, err)
    done = [argv for argv, code, _ in results if code == 0]
    edge_adds = [a[2] for a in done if a[:2] == ["edge", "add"]]
    project_creates = [a[2] for a in done if a[:2] == ["project", "create"]]
    with services.db.session() as s:
        edges = set(s.scalars(select(Edge.name)))
        projects = set(s.scalars(select(Project.name)))
        versions = s.scalar(select(func.count(Config.id)))
        samples = s.scalar(select(func.count(SystemSample.id)))
    assert set(edge_adds) | {f"sim-{i}" for i in range(4)} == edges
    assert {f"shared-{i}" for i in range(ROUNDS)} <= edges  # each race had exactly one winner
    assert len(edge_adds) == SHELLS * ROUNDS + ROUNDS
    assert sorted(project_creates) == sorted(projects) == [f"p-{i}" for i in range(ROUNDS)]
    assert versions == SHELLS * ROUNDS  # every config create made a version, none lost
    assert center.ingest.stats.dropped == 0
    assert samples == HEARTBEATS, samples  # each stored once, by one ingest
    assert "locked" not in scheduler_err.lower(), scheduler_err[-2000:]
    assert scheduler.returncode in (0, -15), scheduler_err[-2000:]
    services.close()
