"""The warm standby server: a run is handed to the process started before it, a spare is
ready again once the run ends, and a standby ends when its launcher goes away."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest

from app.core.run.directory import RunDir
from app.services.runs.demo import create_demo_job
from tests.fl.test_runs_e2e import make_run as make_run
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def spare_pid(launcher) -> int:
    spare = launcher.standby._spare
    assert spare is not None and spare.poll() is None, "no standby server is running"
    return spare.pid


def wait_for(condition, timeout=30.0) -> None:
    wait_until(condition, timeout, "the standby server")


def test_a_run_is_served_by_the_standby_and_another_is_made_ready(make_run):
    run = make_run("grpc", edges=2, rounds=2)
    launcher = run.cluster.launcher
    standby = spare_pid(launcher)
    run.start()
    pid_file = RunDir(run.settings.artifacts_dir, run.job_id).pid_file
    assert int(pid_file.read_text()) == standby  # the run went to the process already started
    assert launcher.standby._spare is None  # taken; not refilled while the run starts
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    # The standby's output moved to the run's log once it had its run.
    log = RunDir(run.settings.artifacts_dir, run.job_id).server_log.read_text()
    assert "2 of 2 edges joined" in log and "FINISHED" in log
    wait_for(lambda: launcher.standby._spare is not None)
    assert spare_pid(launcher) != standby

    # The spare died (killed, out of memory): the next run starts a server of its own.
    psutil.Process(spare_pid(launcher)).kill()
    launcher.standby._spare.wait(10)
    run.done.clear()
    run.job_id = create_demo_job(run.services, run.cluster.edge_names, run.options)
    run.start()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason


def test_a_standby_ends_when_its_launcher_goes_away(tmp_path):
    cmd = [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "server", "--standby"]
    cmd += ["--hub", "grpc://127.0.0.1:9"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.close()  # what the launcher's end of the pipe does when it exits
    assert proc.wait(60) == 0
    assert not list((tmp_path / "artifacts").glob("run-*"))  # it served nothing


def test_a_malformed_order_is_refused_with_the_reason(tmp_path):
    cmd = [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "server", "--standby"]
    cmd += ["--hub", "grpc://127.0.0.1:9"]
    out = subprocess.run(cmd, input=b'{"job_id": "seven"}\n', capture_output=True, timeout=60)
    assert out.returncode == 1
    assert b"malformed run order" in out.stderr


def test_a_standby_that_could_not_warm_up_says_why_in_the_runs_log(tmp_path):
    log = tmp_path / "run-log" / "server.log"
    log.parent.mkdir()
    # A database the standby cannot open: the reason goes to the log of the run it is given.
    cmd = [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "d")]
    cmd += ["--db-url", "postgresql+psycopg://nobody@127.0.0.1:9/none", "server", "--standby"]
    cmd += ["--hub", "grpc://127.0.0.1:9"]
    order = json.dumps({"job_id": 1, "log": str(log)}).encode() + b"\n"
    out = subprocess.run(cmd, input=order, capture_output=True, timeout=60)
    assert out.returncode == 1
    assert "error" in log.read_text().lower() and "127.0.0.1" in log.read_text()
