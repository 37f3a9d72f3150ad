"""Faults survived with real processes: the FL server killed mid-run is relaunched and
resumes from its last aggregated round; a control center that went away finds its runs
on restart (still served: followed to the end; server gone: FAILED with the reason)."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from app.core.run.directory import RunDir
from app.services.runs.launcher import JobLauncher
from app.services.security.auth import SYSTEM
from tests.fl.test_runs_e2e import make_run as make_run

pytestmark = pytest.mark.slow


def aggregate_rounds(run) -> list[int]:
    return [
        m.round
        for m in run.services.run_data.metrics(SYSTEM, run.job_id)
        if m.node == "aggregate" and m.name == "test_accuracy"
    ]


def test_a_killed_server_is_relaunched_and_resumes(make_run):
    # Rounds take a fraction of a second: enough of them that the kill lands mid-run.
    run = make_run("grpc", edges=2, rounds=30)
    run.start()
    run.wait_round(2)
    pid = int(RunDir(run.settings.artifacts_dir, run.job_id).pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    assert job.current_round == 30
    assert aggregate_rounds(run) == list(range(1, 31))  # each round once: none lost, none twice
    counts = run.services.run_data.counts(run.job_id)
    # each round's client updates once (the project keeps the last ten rounds' of them)
    assert counts["aggregate_artifacts"] == 30 and counts["client_artifacts"] == 2 * 10
    texts = [line.text for line in run.services.run_data.logs(SYSTEM, run.job_id)]
    assert any("resuming after round" in t for t in texts)
    assert int(RunDir(run.settings.artifacts_dir, run.job_id).pid_file.read_text()) != pid


def test_a_restarted_control_center_follows_a_live_run(make_run):
    run = make_run("grpc", edges=2, rounds=40)
    run.start()
    run.wait_round(1)
    # A new launcher (the control center after a restart) knows nothing of this run...
    fresh = JobLauncher(run.services, run.settings, run.cluster.hub, run.cluster.hub_url)
    ended = []
    fresh.on_exit = ended.append
    assert fresh.recover() == [run.job_id]  # ...finds its server alive and follows it
    job = run.finish()
    assert job.status == "FINISHED" and job.current_round == 40


def test_a_restarted_control_center_fails_a_run_whose_server_is_gone(make_run):
    lost = make_run("grpc", edges=2, rounds=50)
    lost.start()
    lost.wait_round(1)
    server = psutil.Process(
        int(RunDir(lost.settings.artifacts_dir, lost.job_id).pid_file.read_text())
    )
    old = lost.cluster.launcher  # the old control center is gone: it neither restarts
    old._should_restart = lambda job_id: False  # the server nor settles the job
    old._settle = lambda *a: None
    server.kill()
    server.wait(10)
    again = JobLauncher(lost.services, lost.settings, lost.cluster.hub, lost.cluster.hub_url)
    assert again.recover() == []
    job = lost.services.jobs.get(SYSTEM, lost.job_id)
    assert job.status == "FAILED" and "server was gone" in job.status_reason


@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_a_run_survives_a_hub_restart(make_run, backend):
    import time

    from app.backends.embedded import start_embedded_hub
    from app.services.security.hub_access import HubAccess

    # Enough rounds that the outage lands mid-run (a round takes a fraction of a second):
    # the figures of a round the server reported while the hub was down come from its
    # outcome when the run is settled.
    run = make_run(backend, edges=2, rounds=30, round_timeout_s=30)
    run.start()
    run.wait_round(2)
    port = int(run.cluster.hub_url.rsplit(":", 1)[1])
    run.cluster.embedded.stop()
    time.sleep(2.0)  # an outage of two seconds, not a wait for something
    access = HubAccess.for_settings(run.services.db, run.settings)
    run.cluster.embedded = start_embedded_hub(
        backend, "127.0.0.1", port, access=access, bind_wait_s=10.0
    )
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    assert job.current_round == 30
    assert aggregate_rounds(run) == list(range(1, 31))  # nothing the center needed was lost


def test_an_edge_that_reconnects_mid_round_is_sent_the_round_again(make_run):
    """A broker that restarts drops what it had not delivered: the edge that missed the
    round's model says it is back, gets the round again, and the round is complete."""
    from app.wire.hub import HubState
    from app.wire.messages import MessageType

    run = make_run("local", edges=2, rounds=4, round_timeout_s=60)
    agent = run.cluster.edges.agents[0]
    deliver = agent._on_run_message
    dropped = []

    def lossy(topic, message):
        if message.type == MessageType.MODEL_DOWN and message.round == 2 and not dropped:
            dropped.append(message.round)  # lost on the way, as in a broker restart
            agent._on_hub_state(HubState.CONNECTED)  # …and the edge comes back
            return
        deliver(topic, message)

    agent._on_run_message = lossy  # the run's subscriptions are made at join, with this
    run.start()
    job = run.finish()
    assert dropped == [2]
    assert job.status == "FINISHED", job.status_reason
    nodes = {(a.round, a.node) for a in run.services.run_data.artifacts(SYSTEM, run.job_id)}
    assert {(r, n) for r in (1, 2, 3, 4) for n in ("demo-edge-1", "demo-edge-2")} <= nodes
    logs = [line.text for line in run.services.run_data.logs(SYSTEM, run.job_id, "server")]
    assert any("reconnected; sending the round again" in t for t in logs)


def test_an_edge_that_went_offline_and_came_back_takes_part_again(make_run):
    """A network cut: the broker says the edge went offline (its last will); it reconnects
    with the run still loaded. The log says both, with the round; it is picked again."""
    import re

    from app.wire import topics
    from app.wire.hub import HubState
    from app.wire.messages import Message, MessageType

    run = make_run("local", edges=3, rounds=5, round_timeout_s=60)
    agent = run.cluster.edges.agents[0]
    deliver = agent._on_run_message
    cut = []

    def flaky(topic, message):
        if message.type == MessageType.MODEL_DOWN and message.round == 2 and not cut:
            cut.append(2)
            offline = Message(MessageType.STATUS, body={"state": "OFFLINE"})
            agent.hub.publish(topics.edge_topic(agent.device_id, "status"), offline)
            return  # this round's model never arrived
        if message.type == MessageType.MODEL_DOWN and message.round == 3 and cut == [2]:
            cut.append(3)
            agent._on_hub_state(HubState.CONNECTED)  # back, with the run still loaded
        deliver(topic, message)

    agent._on_run_message = flaky
    run.start()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    logs = [line.text for line in run.services.run_data.logs(SYSTEM, run.job_id, "server")]
    assert any(
        re.fullmatch(r"demo-edge-1 went offline in round 2; continuing with 2 of 3", t)
        for t in logs
    ), logs
    assert any(t.startswith("demo-edge-1 came back in round 3") for t in logs), logs
    rounds = {
        a.round
        for a in run.services.run_data.artifacts(SYSTEM, run.job_id)
        if a.node == "demo-edge-1"
    }
    assert 2 not in rounds and {4, 5} <= rounds  # out for round 2, in again after
