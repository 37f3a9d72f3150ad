"""`feddeck job start` in a shell while a control center runs: the center starts the run
(its standby server, its ingest), the shell follows it; with no center it runs it itself."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.config import Settings
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job, start_cluster
from app.services.runs.launch_requests import LaunchDesk, ask_center
from app.services.security.auth import SYSTEM
from app.wire import topics
from app.wire.messages import Message, MessageType

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3


class Center:
    """A control center's live side with two edge processes; `desk`: it takes requests."""

    def __init__(self, tmp_path, backend: str, desk: bool) -> None:
        self.settings = Settings.load(data_dir=tmp_path / "deck")
        self.services = Services.open(self.settings)
        self.services.users.create_first_admin("root", "rootpass123")
        self.services.users.add(SYSTEM, "olga", "olgapass123", "operator")
        self.services.users.add(SYSTEM, "vera", "verapass123", "viewer")
        self.options = DemoOptions(edges=2, rounds=ROUNDS, backend=backend, heartbeat_s=0.5)
        self.cluster = start_cluster(self.settings, self.services, self.options)
        hub, start = self.cluster.hub, self.cluster.launcher.start
        self.desk = LaunchDesk(hub, self.services, start) if desk else None
        self.ended = threading.Event()
        self.cluster.launcher.on_exit = lambda _id: self.ended.set()

    def job(self) -> int:
        return create_demo_job(self.services, self.cluster.edge_names, self.options)

    def shell_start(self, job_id: int, user: str, password: str):
        env = {**os.environ, "FEDDECK_USER": user, "FEDDECK_PASSWORD": password}
        args = ["--data-dir", str(self.settings.data_dir), "--hub-url", self.cluster.hub_url]
        return subprocess.run(
            [sys.executable, "-m", "app", *args, "job", "start", str(job_id), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=240,
        )

    def close(self) -> None:
        if self.desk is not None:
            self.desk.close()
        self.cluster.close()
        self.services.close()


@pytest.fixture
def center(tmp_path, request):
    made = Center(tmp_path, *request.param)
    yield made
    made.close()


@pytest.mark.slow
@pytest.mark.parametrize("center", [("grpc", True), ("mqtt", True)], indirect=True)
def test_a_shell_start_goes_to_the_running_center_and_is_stored_once(center):
    job_id = center.job()
    shell = center.shell_start(job_id, "olga", "olgapass123")
    assert shell.returncode == 0, shell.stderr[-2000:]
    assert "started by the control center" in shell.stderr
    assert json.loads(shell.stdout)["status"] == "FINISHED"
    assert center.ended.wait(30)  # the center's own launcher served it
    center.cluster.ingest.settle()
    accuracy = [
        m.round
        for m in center.services.run_data.metrics(SYSTEM, job_id)
        if m.node == "aggregate" and m.name == "test_accuracy"
    ]
    assert accuracy == list(range(1, ROUNDS + 1))  # one ingest: each round stored once
    assert center.services.jobs.get(SYSTEM, job_id).status == "FINISHED"
    # refusals come back from the center with its reason: a viewer, a job already run
    denied = center.shell_start(center.job(), "vera", "verapass123")
    assert denied.returncode != 0 and "operator" in denied.stderr, denied.stderr[-2000:]
    again = center.shell_start(job_id, "olga", "olgapass123")
    assert again.returncode != 0 and "only a QUEUED job can start" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("center", [("grpc", False)], indirect=True)
def test_with_no_center_listening_the_shell_runs_the_job_itself(center):
    job_id = center.job()
    assert not ask_center(center.cluster.hub, "olga", job_id, presence_s=0.3)
    shell = center.shell_start(job_id, "olga", "olgapass123")
    assert shell.returncode == 0, shell.stderr[-2000:]
    assert "started by the control center" not in shell.stderr
    assert json.loads(shell.stdout)["status"] == "FINISHED"
    assert not center.ended.is_set()  # this center's launcher never had it


@pytest.mark.parametrize("center", [("grpc", True)], indirect=True)
def test_a_malformed_launch_request_is_ignored_and_the_desk_still_answers(center):
    hub = center.cluster.hub
    for body in ({}, {"job": "x", "user": "olga", "reply": "r1"}, {"job": 1, "reply": "a/b"}):
        hub.publish(topics.CENTER_LAUNCH, Message(MessageType.CONTROL, body=body))
    with pytest.raises(Exception, match="no user named 'nobody'"):
        ask_center(hub, "nobody", center.job())
