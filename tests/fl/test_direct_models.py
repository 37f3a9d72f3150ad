"""Models over the direct channel in real runs: edge processes fetch the global model and
push their updates beside the hub, the run's result is the relay's to the bit, and an edge
that cannot reach the channel gets the model over the hub, said in the log."""

from __future__ import annotations

import threading

import pytest

from app.services.security.auth import SYSTEM
from app.wire import direct_server
from tests.fl.test_runs_e2e import Run


def direct_run(tmp_path, backend, min_mib=0, **kwargs) -> Run:
    folder = tmp_path / f"deck-{backend}"
    folder.mkdir(parents=True)
    (folder / "feddeck.toml").write_text(f"[direct]\nmin_mib = {min_mib}\n")
    return Run(tmp_path, backend, **kwargs)


def figures(run: Run, name: str) -> list[float]:
    metrics = run.services.run_data.metrics(SYSTEM, run.job_id)
    return [m.value for m in sorted(metrics, key=lambda m: m.round) if m.name == name]


@pytest.fixture
def runs():
    made: list[Run] = []
    yield made
    for run in made:
        run.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_models_go_direct_and_the_result_is_the_relays(tmp_path, runs, backend):
    # One after the other: the embedded hub of a backend has one port.
    for run in (direct_run(tmp_path, backend, edges=2, rounds=3), None):
        run = run or Run(tmp_path / "relay", backend, edges=2, rounds=3)
        runs.append(run)
        run.start()
        job = run.finish()
        assert job.status == "FINISHED", job.status_reason
        run.cluster.close()
    fast, relay = runs
    model = figures(fast, "model_bytes")[0]
    # Two edges fetch the model and push an update each round (the model and a safetensors
    # header), all beside the hub...
    for name in ("direct_bytes_out", "direct_bytes_in"):
        assert all(2 * model < b < 2 * model + 4096 for b in figures(fast, name)), name
    # ...so the hub carried announcements only; the relay run moved the models through it.
    assert all(b < model / 4 for b in figures(fast, "hub_bytes_in"))
    assert all(b > 2 * model for b in figures(relay, "hub_bytes_in"))
    assert figures(relay, "direct_bytes_in") == []
    # The same models: the same accuracy, round by round.
    assert figures(fast, "test_accuracy") == figures(relay, "test_accuracy")
    assert figures(fast, "fed_val_accuracy") == figures(relay, "fed_val_accuracy")
    logs = fast.services.run_data.logs(SYSTEM, fast.job_id)
    assert [line.text for line in logs if line.level != "INFO"] == []


def test_a_model_under_the_threshold_stays_on_the_hub(tmp_path, runs):
    runs.append(direct_run(tmp_path, "local", min_mib=1, edges=2, rounds=2))
    runs[0].start()
    assert runs[0].finish().status == "FINISHED"
    assert figures(runs[0], "direct_bytes_in") == []
    assert all(b > 2 * figures(runs[0], "model_bytes")[0] for b in figures(runs[0], "hub_bytes_in"))


def test_an_edge_that_cannot_reach_the_channel_gets_the_model_over_the_hub(
    tmp_path, runs, monkeypatch
):
    """The channel's listener closes after round 1 (the server is a thread of this test on
    the local hub): from then on every fetch is refused by the operating system, so the
    edges ask for the model over the hub, train, and send their updates over it too."""
    channels: list[direct_server.DirectServer] = []
    opened = direct_server.DirectServer.__init__

    def remember(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        channels.append(self)

    monkeypatch.setattr(direct_server.DirectServer, "__init__", remember)
    run = direct_run(tmp_path, "local", edges=2, rounds=4)
    runs.append(run)
    closed = threading.Event()

    def close_after_round_1(event):
        if event.kind == "metric" and event.data["node"] == "aggregate" and not closed.is_set():
            closed.set()
            channels[0].close()

    run.cluster.ingest.events.subscribe(close_after_round_1)
    run.start()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    assert len(channels) == 1
    # Every edge's update of every round counted, whichever way it came.
    counts = run.services.run_data.counts(run.job_id)
    assert counts["metric_rounds"] == 4 and counts["client_artifacts"] == 8
    assert figures(run, "test_accuracy")[-1] > 0.5
    logs = run.services.run_data.logs(SYSTEM, run.job_id)
    warnings = [line for line in logs if line.level != "INFO"]
    downloads = [
        w.text for w in warnings if w.node != "server" and "the direct download failed" in w.text
    ]
    assert downloads and all(
        "127.0.0.1:" in text and "asking for the model over the hub" in text for text in downloads
    ), downloads
    relayed = [w.text for w in warnings if "could not fetch the model directly" in w.text]
    assert relayed and all(
        "could not fetch the model directly" in text and "sending it over the hub" in text
        for text in relayed
    ), relayed
    # A round fetched just before the channel closed sends its update over the hub; one
    # pushed just before is asked for again, over the hub.
    others = [w.text for w in warnings if w.text not in downloads + relayed]
    assert all("the direct upload" in text and "over the hub" in text for text in others)
    assert figures(run, "direct_bytes_in")[-2:] == [0.0, 0.0]


def test_a_round_offers_the_stored_aggregate_under_its_digest(tmp_path, runs, monkeypatch):
    """After round 1 the model an edge fetches is the aggregate file the server stored,
    byte for byte, announced under the SHA-256 the store computed: no round hashes the
    model again to offer it (the initial model, round 1's, is hashed once)."""
    import app.core.edge as edge
    import app.core.run.direct_models as direct_models

    hashed, fetched = [], []
    digest_of, fetch_model = direct_models.digest_of, edge.fetch_model

    def counting_digest(parts):
        hashed.append(sum(memoryview(p).nbytes for p in parts))
        return digest_of(parts)

    def recording_fetch(info):
        fetched.append(info["sha256"])
        return fetch_model(info)

    monkeypatch.setattr(direct_models, "digest_of", counting_digest)
    monkeypatch.setattr(edge, "fetch_model", recording_fetch)
    run = direct_run(tmp_path, "local", edges=2, rounds=4)
    runs.append(run)
    run.start()
    job = run.finish()
    assert job.status == "FINISHED", job.status_reason
    assert len(hashed) == 1
    stored = {
        a.sha256
        for a in run.services.run_data.artifacts(SYSTEM, run.job_id)
        if a.node == "aggregate"
    }
    # rounds 2-4 (two edges each) and the final evaluation fetch stored aggregates
    assert len(fetched) >= 8 and len(set(fetched) - stored) == 1, (fetched, stored)
    logs = run.services.run_data.logs(SYSTEM, run.job_id)
    assert [line.text for line in logs if line.level != "INFO"] == []
