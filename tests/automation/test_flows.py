"""Flows: checked definitions, ordering, conditions, model hand-over and retries."""

from __future__ import annotations

import pytest

from app.errors import Conflict, InvalidInput
from app.services.automation.flow_engine import FlowEngine
from tests.automation.conftest import TEMPLATE


def steps(*specs) -> dict:
    out = []
    for spec in specs:
        name, deps, *rest = spec
        extra = rest[0] if rest else {}
        job = {**TEMPLATE, **extra.pop("job", {})}
        out.append({"name": name, "depends_on": deps, "job": job, **extra})
    return {"name": "f", "steps": out}


@pytest.mark.parametrize(
    ("definition", "error"),
    [
        (steps(("a", ["b"]), ("b", ["a"])), "cycle"),
        (steps(("a", ["a"])), "cycle"),
        (steps(("a", ["ghost"])), "unknown step"),
        (steps(("a", []), ("a", [])), "unique"),
        (steps(("a", []), ("b", [], {"job": {"init_from": "a"}})), "must be one of its depends_on"),
        (steps(("a", [], {"condition": {"status": ["DONE"]}})), "status"),
        (steps(("a", [], {"retries": -1})), "retries"),
        (steps(("a", [], {"job": {"config": "nope"}})), "no config 'nope'"),
        (steps(("a", [], {"job": {"cluster": {"engine": "mpi"}}})), "give one of edges"),
        (
            steps(("a", [], {"job": {"edge_tag": None, "cluster": {"engine": "pbs", "ranks": 3}}})),
            r"cluster\.engine: one of mpi, torchrun, slurm",
        ),
        (
            steps(("a", [], {"job": {"edge_tag": None, "cluster": {"engine": "mpi", "np": 3}}})),
            "unknown field",
        ),
        ({"name": "f", "steps": []}, "steps"),
    ],
)
def test_bad_flows_are_refused_and_nothing_is_stored(lab, definition, error):
    services, operator = lab
    with pytest.raises(InvalidInput, match=error):
        services.flows.save_dict(operator, definition)
    assert services.flows.list(operator) == []


def test_flow_toml_round_trip_and_replace(lab):
    services, operator = lab
    services.flows.save_dict(operator, steps(("a", []), ("b", ["a"])))
    text = services.flows.export_toml(operator, "f")
    with pytest.raises(Conflict):
        services.flows.save_toml(operator, text, "f.toml")
    again = services.flows.save_toml(operator, text, "f.toml", replace=True)
    assert [s["name"] for s in again.steps] == ["a", "b"]
    assert again.steps[1]["depends_on"] == ["a"]
    with pytest.raises(InvalidInput, match=r"f\.toml is not valid TOML"):
        services.flows.save_toml(operator, "name = ", "f.toml")


def engine(lab, starter, clock, owner="engine") -> FlowEngine:
    return FlowEngine(lab[0], starter, owner, clock=clock)


def step_states(services, operator, flow_run_id):
    return {s["step"]: s["status"] for s in services.flows.run(operator, flow_run_id).steps}


def test_steps_run_in_dependency_order_and_hand_over_the_model(lab, starter, clock):
    services, operator = lab
    services.flows.save_dict(
        operator,
        steps(
            ("train", []),
            ("finetune", ["train"], {"job": {"init_from": "train"}}),
            ("report", ["train"]),
        ),
    )
    run = services.flows.start_run(operator, "f")
    eng = engine(lab, starter, clock)
    eng.tick()
    assert step_states(services, operator, run.id) == {
        "train": "RUNNING",
        "finetune": "PENDING",
        "report": "PENDING",
    }
    [train_job] = starter.started
    starter.finish(train_job)
    eng.tick()
    states = step_states(services, operator, run.id)
    assert states == {"train": "SUCCEEDED", "finetune": "RUNNING", "report": "RUNNING"}
    finetune = next(
        s for s in services.flows.run(operator, run.id).steps if s["step"] == "finetune"
    )
    job = services.jobs.get(operator, finetune["job_id"])
    assert job.init_model == {
        "job_id": train_job,
        "round": 1,
        "path": f"/models/{train_job}.safetensors",
        "sha256": "ab" * 32,
    }
    assert job.name == "f / finetune" and {"flow", "f"} <= set(job.tags)
    for job_id in starter.started[1:]:
        starter.finish(job_id)
    eng.tick()
    final = services.flows.run(operator, run.id)
    assert final.status == "FINISHED" and final.finished_at is not None


def test_a_condition_that_fails_skips_the_branch(lab, starter, clock):
    services, operator = lab
    services.flows.save_dict(
        operator,
        steps(
            ("train", []),
            ("deploy", ["train"], {"condition": {"min_accuracy": 0.95}}),
            ("after-deploy", ["deploy"]),
            (
                "retrain",
                ["train"],
                {"condition": {"metrics": [{"name": "test_loss", "op": ">", "value": 0.05}]}},
            ),
        ),
    )
    run = services.flows.start_run(operator, "f")
    eng = engine(lab, starter, clock)
    eng.tick()
    starter.finish(starter.started[0], accuracy=0.9)
    eng.tick()
    record = services.flows.run(operator, run.id)
    by_name = {s["step"]: s for s in record.steps}
    assert by_name["deploy"]["status"] == "SKIPPED"
    assert "accuracy 0.9000 < 0.95" in by_name["deploy"]["reason"]
    assert by_name["after-deploy"]["status"] == "SKIPPED"
    assert by_name["retrain"]["status"] == "RUNNING"  # test_loss 0.1 > 0.05
    starter.finish(starter.started[1])
    eng.tick()
    assert services.flows.run(operator, run.id).status == "FINISHED"


def test_a_failed_step_is_retried_then_fails_the_flow(lab, starter, clock):
    services, operator = lab
    services.flows.save_dict(operator, steps(("train", [], {"retries": 1}), ("next", ["train"])))
    run = services.flows.start_run(operator, "f")
    eng = engine(lab, starter, clock)
    eng.tick()
    starter.finish(starter.started[0], status="FAILED")
    eng.tick()
    train = next(s for s in services.flows.run(operator, run.id).steps if s["step"] == "train")
    assert train["status"] == "RUNNING" and train["attempts"] == 2
    assert "attempt 2 after job" in train["reason"] and len(starter.started) == 2
    starter.finish(starter.started[1], status="FAILED")
    eng.tick()
    record = services.flows.run(operator, run.id)
    assert [s["status"] for s in record.steps] == ["FAILED", "SKIPPED"]
    assert record.status == "FAILED" and "train" in record.reason
    assert len(starter.started) == 2  # no third attempt


def test_a_step_waits_for_its_edges_to_come_online(lab, starter, clock):
    """Right after the hub and the agents start, nothing has recorded a heartbeat yet."""
    services, operator = lab
    for name in ("e1", "e2"):
        services.edges.set_status(operator, name, "OFFLINE")
    services.flows.save_dict(operator, steps(("train", [], {"job": {"wait_for_edges_s": 60}})))
    run = services.flows.start_run(operator, "f")
    eng = engine(lab, starter, clock)
    eng.tick()
    [train] = services.flows.run(operator, run.id).steps
    assert train["status"] == "WAITING" and train["attempts"] == 1
    assert train["reason"] == "waiting up to 60 s: no idle edge is tagged 'lab'"
    clock.advance(seconds=30)
    assert eng.tick() == [] and starter.started == []
    services.edges.set_status(operator, "e1", "IDLE")  # one of the two min_clients needs
    eng.tick()
    [train] = services.flows.run(operator, run.id).steps
    assert train["status"] == "WAITING"  # and the wait goes on from where it began
    assert train["reason"] == "waiting up to 60 s: no idle edge is tagged 'lab'"
    services.edges.set_status(operator, "e2", "IDLE")
    eng.tick()
    [train] = services.flows.run(operator, run.id).steps
    assert train["status"] == "RUNNING" and train["attempts"] == 1
    assert sorted(services.jobs.get(operator, train["job_id"]).edges) == ["e1", "e2"]


def test_a_wait_that_runs_out_uses_a_retry_then_fails_the_step(lab, starter, clock):
    services, operator = lab
    for name in ("e1", "e2"):
        services.edges.set_status(operator, name, "OFFLINE")
    services.flows.save_dict(
        operator, steps(("train", [], {"retries": 1, "job": {"wait_for_edges_s": 60}}))
    )
    run = services.flows.start_run(operator, "f")
    eng = engine(lab, starter, clock)
    eng.tick()
    clock.advance(seconds=61)
    eng.tick()
    [train] = services.flows.run(operator, run.id).steps
    assert train["status"] == "WAITING" and train["attempts"] == 2
    assert train["reason"].startswith("attempt 2, waiting up to 60 s")
    clock.advance(seconds=59)
    assert eng.tick() == []  # the retry waits its own full minute
    clock.advance(seconds=2)
    eng.tick()
    record = services.flows.run(operator, run.id)
    assert record.status == "FAILED" and record.steps[0]["status"] == "FAILED"
    assert record.steps[0]["reason"] == (
        "no idle edge is tagged 'lab' after waiting 60 s (after 2 attempt(s))"
    )
    assert starter.started == []


def test_stopping_a_flow_skips_a_waiting_step(lab, starter, clock):
    services, operator = lab
    services.edges.set_status(operator, "e1", "OFFLINE")
    services.edges.set_status(operator, "e2", "OFFLINE")
    services.flows.save_dict(operator, steps(("train", [])))
    run = services.flows.start_run(operator, "f")
    engine(lab, starter, clock).tick()
    services.flows.request_stop(operator, run.id)
    assert step_states(services, operator, run.id) == {"train": "SKIPPED"}


def test_a_status_condition_can_follow_a_failure(lab, starter, clock):
    services, operator = lab
    services.flows.save_dict(
        operator,
        steps(("train", []), ("alert", ["train"], {"condition": {"status": ["FAILED"]}})),
    )
    run = services.flows.start_run(operator, "f")
    eng = engine(lab, starter, clock)
    eng.tick()
    starter.finish(starter.started[0], status="FAILED")
    eng.tick()
    assert step_states(services, operator, run.id)["alert"] == "RUNNING"


@pytest.mark.parametrize("lab", ["sqlite", "postgresql"], indirect=True)
def test_flow_run_lease_and_stop(lab, starter):
    from app.storage.models import utcnow
    from tests.automation.conftest import Clock

    services, operator = lab
    clock = Clock(utcnow())  # start_run takes its lease on the real clock
    services.flows.save_dict(operator, steps(("a", []), ("b", ["a"])))
    run = services.flows.start_run(operator, "f", owner="cli")
    other = engine(lab, starter, clock, owner="window")
    assert other.tick() == [] and starter.started == []  # the CLI holds it
    clock.advance(seconds=31)
    assert other.tick() == [run.id]
    stopped = services.flows.request_stop(operator, run.id)
    assert stopped.status == "STOPPED" and stopped.steps[1]["status"] == "SKIPPED"
    with pytest.raises(InvalidInput, match="already STOPPED"):
        services.flows.request_stop(operator, run.id)
    assert other.tick() == []
