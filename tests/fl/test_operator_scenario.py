"""The operator's set-up from the README, with real processes: a headless control center
(`feddeck scheduler`) on the embedded hub, four `feddeck edge` agents connected to it, and
`feddeck job start` in a shell, ten times. The shell's command finds the embedded hub's
port taken and hands its run to the center; it must never start a second hub beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.config import Settings
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job
from app.services.security.auth import SYSTEM
from app.wire.transports import TRANSPORTS
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
EDGES, RUNS, ROUNDS = 4, 10, 2


def _feddeck(data: Path, *args: str, **kw) -> list[str]:
    return [sys.executable, "-m", "app", "--data-dir", str(data), *args]


@pytest.fixture
def lab(tmp_path, request):
    """A data dir with an operator, four registered edges and RUNS queued jobs; the
    center and the agents running as their own processes."""
    kind = request.param
    data = tmp_path / "deck"
    settings = Settings.load(data_dir=data)
    services = Services.open(settings)
    services.users.create_first_admin("root", "rootpass123")
    services.users.add(SYSTEM, "olga", "olgapass123", "operator")
    edges = [services.edges.register(SYSTEM, f"site-{i}") for i in range(1, EDGES + 1)]
    options = DemoOptions(edges=EDGES, rounds=ROUNDS, backend=kind, round_timeout_s=60)
    names = [e.edge.name for e in edges]
    jobs = [create_demo_job(services, names, options) for _ in range(RUNS)]
    env = {
        **os.environ,
        "FEDDECK_USER": "olga",
        "FEDDECK_PASSWORD": "olgapass123",
        "FEDDECK_HUB_URL": f"embedded://{kind}",
    }
    procs: list[subprocess.Popen] = []
    try:
        center = subprocess.Popen(
            _feddeck(data, "scheduler"),
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(center)
        _wait_for_line(center, "scheduler running")
        url = f"{kind}://127.0.0.1:{TRANSPORTS[kind].embedded_port}"
        for i, new in enumerate(edges, 1):
            agent = _feddeck(tmp_path / f"edge-{i}", "edge", "--hub", url, "--token", new.token)
            agent += ["--name", new.edge.name, "--heartbeat", "0.5"]
            procs.append(subprocess.Popen(agent, cwd=ROOT, stderr=subprocess.DEVNULL))
        online = lambda: all(e.status == "IDLE" for e in services.edges.list(SYSTEM))  # noqa: E731
        wait_until(online, 60, "the edges online", interval=0.2)
        yield data, env, jobs, services, procs[1:]
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        services.close()


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"no {text!r} from the center: {''.join(seen)[-2000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("lab", ["grpc", "mqtt"], indirect=True)
def test_job_start_in_a_shell_beside_a_headless_center_finishes_ten_of_ten(lab):
    data, env, jobs, services, _agents = lab
    ended = []
    for job_id in jobs:
        shell = subprocess.run(
            _feddeck(data, "job", "start", str(job_id), "--json"),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        status = json.loads(shell.stdout)["status"] if shell.stdout.strip() else "?"
        ended.append((job_id, shell.returncode, status, shell.stderr[-600:]))
    failed = [e for e in ended if e[1] != 0 or e[2] != "FINISHED"]
    assert not failed, failed
    assert all("started by the control center" in e[3] for e in ended)
    for job_id in jobs:
        job = services.jobs.get(SYSTEM, job_id)
        assert (job.status, job.current_round) == ("FINISHED", ROUNDS)


@pytest.mark.slow
@pytest.mark.parametrize("lab", ["grpc", "mqtt"], indirect=True)
def test_a_killed_agent_is_noticed_at_once_and_job_start_says_so(lab):
    """SIGKILL of an agent mid-run: its hub announces it (gRPC: the lost stream; MQTT: the
    last will), the run goes on without it, the edge is OFFLINE, and the shell that
    started the run prints it by name as it happens."""
    data, env, _jobs, services, agents = lab
    names = [e.name for e in services.edges.list(SYSTEM)]
    options = DemoOptions(edges=EDGES, rounds=100_000, backend="shell", round_timeout_s=60)
    job_id = create_demo_job(services, sorted(names), options)
    shell = subprocess.Popen(
        _feddeck(data, "job", "start", str(job_id)),
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: services.jobs.get(SYSTEM, job_id).current_round >= 2, 60, "round 2")
        agents[1].kill()  # site-2
        killed = time.monotonic()
        wait_until(lambda: _status(services, "site-2") == "OFFLINE", 30, "site-2 OFFLINE")
        noticed = time.monotonic() - killed
        wait_until(lambda: _logged(services, job_id, "site-2 went offline"), 30, "the run's log")
        at_kill = services.jobs.get(SYSTEM, job_id).current_round
        wait_until(
            lambda: services.jobs.get(SYSTEM, job_id).current_round >= at_kill + 3, 60, "rounds"
        )
        stop = subprocess.run(
            _feddeck(data, "job", "stop", str(job_id)), env=env, cwd=ROOT, capture_output=True
        )
        assert stop.returncode == 0, stop.stderr
        assert shell.wait(60) == 4  # STOPPED
    finally:
        shell.kill()
        shell.wait()
    assert noticed < 10, f"the edge was seen OFFLINE {noticed:.1f} s after it was killed"
    err = shell.stderr.read()
    assert "warning: site-2 went offline in round" in err, err[-3000:]
    assert "continuing with 3 of 4" in err
    assert services.jobs.get(SYSTEM, job_id).status == "STOPPED"


def _status(services, name: str) -> str:
    return services.edges.get(SYSTEM, name).status


def _logged(services, job_id: int, text: str) -> bool:
    return bool(services.run_data.logs(SYSTEM, job_id, "server", contains=text))
