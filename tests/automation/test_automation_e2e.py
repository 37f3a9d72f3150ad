"""Real runs: a two-step flow through `feddeck flow run`, and a schedule made with
`feddeck schedule create` firing under the headless scheduler on an injected clock. FL
server and edges are processes on a real gRPC hub."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.backends.embedded import start_embedded_hub
from app.cli import main
from app.config import Settings
from app.services import Services
from app.services.runs.local_edges import LocalEdges
from app.services.security.auth import SYSTEM
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """Data dir with an admin, the demo project, both digits configs (2 rounds), two edge
    processes tagged 'demo' on a gRPC hub; yields (cli prefix, settings, services)."""
    data = tmp_path / "deck"
    hub = start_embedded_hub("grpc", "127.0.0.1", 0)
    monkeypatch.setenv("FEDDECK_USER", "root")
    monkeypatch.setenv("FEDDECK_PASSWORD", "rootpass123")
    cli = ["--data-dir", str(data), "--hub-url", hub.url]
    settings = Settings.load(data_dir=data)
    services = Services.open(settings)
    services.users.create_first_admin("root", "rootpass123")
    services.groups.add(SYSTEM, "demo", "")
    services.projects.create(SYSTEM, "demo", "demo", "")
    from app.core.fl_config import config_from_toml

    for name in ("digits-mlp-fedavg", "digits-mlp-finetune"):
        cfg = config_from_toml((RESOURCES / "configs" / f"{name}.toml").read_text())
        training = cfg.training.model_copy(update={"rounds": 2})
        services.configs.save(SYSTEM, cfg.model_copy(update={"training": training}))
    edges = LocalEdges(settings, hub.url, heartbeat_s=0.5)
    for name in ("lab-1", "lab-2"):
        new = services.edges.register(SYSTEM, name, tags=["demo"])
        edges.start(name, new.edge.device_id, new.token)
    yield cli, settings, services
    edges.stop()
    services.close()
    hub.stop()


def wait_idle(services, names, timeout=60.0) -> None:
    def idle() -> bool:
        return all(services.edges.get(SYSTEM, n).status == "IDLE" for n in names)

    wait_until(idle, timeout, f"edges {names} online", interval=0.2)


def test_flow_train_then_finetune_end_to_end(cluster, capsys):
    cli, _settings, services = cluster
    flow_file = RESOURCES / "flows" / "digits-train-then-finetune.toml"
    assert main([*cli, "flow", "create", "--file", str(flow_file)]) == 0
    capsys.readouterr()
    # Right after the hub and the agents started, as from a shell: nothing has recorded
    # their heartbeats yet, so no edge is known to be idle; the flow's steps wait for them.
    assert {services.edges.get(SYSTEM, n).status for n in ("lab-1", "lab-2")} == {"OFFLINE"}
    assert main([*cli, "flow", "run", "digits-train-then-finetune", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "FINISHED", run
    steps = {s["step"]: s for s in run["steps"]}
    assert [steps[n]["status"] for n in ("train", "finetune")] == ["SUCCEEDED", "SUCCEEDED"]
    train, finetune = (services.jobs.get(SYSTEM, steps[n]["job_id"]) for n in ("train", "finetune"))
    assert train.status == finetune.status == "FINISHED"
    assert finetune.init_model["job_id"] == train.id and finetune.init_model["round"] == 2
    server_lines = [line.text for line in services.run_data.logs(SYSTEM, finetune.id, "server")]
    assert any(f"aggregated model of run {train.id} round 2" in t for t in server_lines)
    assert main([*cli, "flow", "status", str(run["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "FINISHED"


def test_cli_schedule_fires_under_the_headless_scheduler(cluster, capsys):
    from app.cli.automation_commands import serve_automation
    from app.cli.context import CliContext
    from app.cli.coordinator import Coordinator
    from app.storage.models import utcnow

    cli, settings, services = cluster
    args = [
        "schedule",
        "create",
        "nightly",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Paris",
        "--project",
        "demo",
        "--config",
        "digits-mlp-fedavg",
        "--edge-tag",
        "demo",
        "--json",
    ]
    assert main([*cli, *args]) == 0
    created = json.loads(capsys.readouterr().out)
    assert len(created["next_fires"]) == 5 and created["next_fires"][0].endswith("02:30:00+01:00")
    first_fire = services.schedules.get(SYSTEM, "nightly").next_fire_at

    fake_now = first_fire + timedelta(seconds=5)
    ctx = CliContext(
        settings=Settings.load(data_dir=settings.data_dir, hub_url=cli[-1]),
        user_name="root",
        as_json=True,
    )
    coordinator = Coordinator(ctx)
    stop = threading.Event()
    wait_idle(services, ["lab-1", "lab-2"])
    thread = threading.Thread(
        target=serve_automation, args=(ctx, coordinator, stop, lambda: fake_now, 0.2)
    )
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            fires = services.schedules.history(SYSTEM, "nightly")
            if (
                fires
                and fires[0].job_id
                and services.jobs.get(SYSTEM, fires[0].job_id).status in ("FINISHED", "FAILED")
            ):
                break
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join(30)
        coordinator.close()
        ctx.close()
    [fire] = services.schedules.history(SYSTEM, "nightly")
    assert fire.outcome == "launched" and fire.fire_time == first_fire
    job = services.jobs.get(SYSTEM, fire.job_id)
    assert job.status == "FINISHED" and job.current_round == 2 and "scheduled" in job.tags
    assert job.created_by == "root" and sorted(job.edges) == ["lab-1", "lab-2"]
    assert services.schedules.get(SYSTEM, "nightly").next_fire_at == first_fire + timedelta(days=1)
    assert services.schedules.get(SYSTEM, "nightly").lease_owner is None  # released
    assert utcnow() < first_fire  # it fired on the injected clock, not the real one
