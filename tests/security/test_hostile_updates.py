"""Hostile traffic inside a live run: updates for the wrong run or round, with NaN or
infinite weights, with wrong shapes, frames claiming a giant size. Each is refused with a
logged reason, the run finishes, and no NaN ever reaches an aggregated model."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from app.backends.factory import create_hub
from app.core.artifacts import load_weights
from app.core.run.protocol import RunAddress
from app.services.security.auth import SYSTEM
from app.wire.messages import Message, MessageType
from tests.fl.test_runs_e2e import make_run as make_run


def test_hostile_updates_are_refused_and_the_run_finishes(make_run):
    run = make_run("local", edges=2, rounds=4)
    job = run.services.jobs.get(SYSTEM, run.job_id)
    address = RunAddress(job.project, run.job_id)
    victim = run.services.edges.get(SYSTEM, "demo-edge-1").device_id
    # The in-process hub checks no tokens (the guarded hubs' tests show an edge cannot
    # speak as another); so this attacker speaks as a selected edge, to reach the server.
    attacker = create_hub(run.cluster.hub_url, victim)
    attacker.connect()
    sent = []

    def update(job_id, rnd, tensors):
        return Message(
            MessageType.MODEL_UP,
            job_id=job_id,
            round=rnd,
            body={"num_samples": 10_000},
            tensors=tensors,
        )

    def on_model(topic, message):
        if message.type != MessageType.MODEL_DOWN or message.round in sent:
            return
        sent.append(message.round)
        good = message.tensors
        first = next(iter(good))
        nan = {k: np.full_like(v, np.nan) for k, v in good.items()}
        inf = {k: np.full_like(v, np.inf) for k, v in good.items()}
        wrong_shape = {**good, first: good[first][..., :1].copy()}
        up = address.topic(victim, "model/up")
        for hostile in (
            update(run.job_id + 7, message.round, good),  # another run
            update(run.job_id, message.round + 3, good),  # another round
            update(run.job_id, message.round, nan),
            update(run.job_id, message.round, inf),
            update(run.job_id, message.round, wrong_shape),
        ):
            attacker.publish(up, hostile)
        # a frame whose header claims a 2 GB payload it does not carry
        attacker._send_chunk(up, b"FDM1" + struct.pack(">I", 2**31) + b"{}")

    attacker.subscribe(address.model_down, on_model)
    run.start()
    job = run.finish()
    attacker.close()
    assert job.status == "FINISHED", job.status_reason
    assert sent == [1, 2, 3, 4, 5]  # four rounds, then the final model for evaluation alone
    refusals = [
        line.text
        for line in run.services.run_data.logs(SYSTEM, run.job_id, "server")
        if "refused the update" in line.text
    ]
    for reason in ("it is for run", "it is for round", "NaN or infinite", "expected float32"):
        assert any(reason in text for text in refusals), (reason, refusals)
    for artifact in run.services.run_data.artifacts(SYSTEM, run.job_id):
        if artifact.node == "aggregate":
            weights = load_weights(Path(artifact.path), artifact.sha256)
            assert all(np.isfinite(w).all() for w in weights.values())
    accuracy = [
        m.value
        for m in run.services.run_data.metrics(SYSTEM, run.job_id)
        if m.node == "aggregate" and m.name == "test_accuracy"
    ]
    assert accuracy[-1] > 0.5
