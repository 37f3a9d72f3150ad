"""Refusals in real runs: every reason reaches the job (what `feddeck job show` and the
window show), nothing stored is lost, and the agents keep running and take the next run."""

from app.core.fl_config import config_from_toml
from app.services.security.auth import SYSTEM
from tests.tasks.conftest import doc_block, write_doc_data, write_doc_task
from tests.tasks.test_task_checks import TASK_PY, make_task


def _config(name, task, min_clients, rounds=2):
    return config_from_toml(
        f'name = "{name}"\n[task]\nname = "{task}"\n'
        f"[training]\nrounds = {rounds}\nmin_clients = {min_clients}\nround_timeout_s = 30\n"
    )


def test_edges_that_will_not_run_a_task_say_why_and_keep_running(make_center, tmp_path):
    center = make_center("local")
    services = center.services
    folder = write_doc_task(tmp_path / "cancer-mlp")
    sites = write_doc_data(tmp_path / "cancer")
    services.tasks.add(SYSTEM, folder)
    services.configs.save(SYSTEM, config_from_toml(doc_block("toml", 'name = "cancer-fedavg"')))
    trust = services.tasks.center_fingerprint()
    center.edge("trusting", data={"cancer": sites[0]}, trust_center=trust)
    center.edge("cautious", data={"cancer": sites[1]})  # never opted in
    center.edge("no-data", trust_center=trust)
    center.edge("wrong-center", data={"cancer": sites[2]}, trust_center="ab" * 32)
    names = ["trusting", "cautious", "no-data", "wrong-center"]
    center.wait_online(names)
    job = center.run("cancer-fedavg", names)
    assert job.status == "FAILED"
    reason = job.status_reason
    assert "only 1 of 4 edges joined; min_clients is 3" in reason
    assert "--trust-center" in reason  # cautious, told which fingerprint would do
    assert "reads data 'cancer', which this edge does not have" in reason  # no-data
    assert "not by the trusted center" in reason  # wrong-center
    logs = [line.text for line in services.run_data.logs(SYSTEM, job.id) if line.level == "ERROR"]
    assert sum("refused the run" in t for t in logs) == 3
    edges = {e.name: e for e in services.edges.list(SYSTEM)}
    assert edges["trusting"].data_keys == ["cancer"] and edges["no-data"].data_keys == []

    # the same agents, still up, run a built-in task next
    services.configs.save(SYSTEM, _config("builtin", "digits", 4))
    again = center.run("builtin", names)
    assert again.status == "FINISHED", again.status_reason
    assert services.tasks.get(SYSTEM, "cancer-mlp").version == 1  # nothing stored was lost


BROKEN_LOAD = TASK_PY.replace(
    "def load_data(data_dir, config):\n",
    "def load_data(data_dir, config):\n    raise ValueError('cannot parse site.csv line 7')\n",
)
RAISING_TRAIN = (
    TASK_PY
    + """

def train(model, data, config, ctx):
    if config["partition"] == 1 and ctx.round == 2:
        raise RuntimeError("out of memory on the site GPU")
    return {"train_loss": 0.5}
"""
)


def test_a_task_that_raises_in_load_data_or_train_is_reported(make_center, tmp_path):
    center = make_center("local")
    services = center.services
    trust = services.tasks.center_fingerprint()
    services.tasks.add(SYSTEM, make_task(tmp_path / "broken", body=BROKEN_LOAD, name="broken"))
    services.tasks.add(SYSTEM, make_task(tmp_path / "flaky", body=RAISING_TRAIN, name="flaky"))
    for name in ("e1", "e2"):
        center.edge(name, trust_center=trust)
    center.wait_online(["e1", "e2"])

    services.configs.save(SYSTEM, _config("broken-run", "broken", 1))
    job = center.run("broken-run", ["e1", "e2"])
    assert job.status == "FAILED"
    assert "e1 (" in job.status_reason and "TaskFailed" not in job.status_reason
    assert "load_data raised ValueError: cannot parse site.csv line 7" in job.status_reason

    services.configs.save(SYSTEM, _config("flaky-run", "flaky", 1, rounds=3))
    job = center.run("flaky-run", ["e1", "e2"])
    assert job.status == "FINISHED", job.status_reason  # e1 carries on alone
    errors = [line for line in services.run_data.logs(SYSTEM, job.id) if line.level == "ERROR"]
    assert any("train raised RuntimeError: out of memory" in line.text for line in errors)
    updates = {
        (a.round, a.node)
        for a in services.run_data.artifacts(SYSTEM, job.id)
        if a.node != "aggregate"
    }
    assert (1, "e2") in updates and (3, "e2") not in updates  # e2 left in round 2
    assert {(1, "e1"), (2, "e1"), (3, "e1")} <= updates
    assert any("edge e2 left the run" in line.text for line in errors)


def test_a_tampered_stored_task_fails_the_run_once_with_the_reason(make_center, tmp_path):
    """An error no restart can heal (the stored archive fails its SHA-256) is not retried:
    the server process says so in its outcome, and the launcher relaunches nothing."""
    from sqlalchemy import select, update

    from app.storage.models import Task

    center = make_center("grpc")
    services = center.services
    services.tasks.add(SYSTEM, make_task(tmp_path / "tiny"))
    services.configs.save(SYSTEM, _config("tiny-run", "tiny", 1))
    center.edge("e1")
    center.wait_online(["e1"])
    with services.db.session() as s:
        stored = s.scalar(select(Task.archive))
        altered = bytearray(stored)
        altered[700] ^= 1
        s.execute(update(Task).values(archive=bytes(altered)))
    job = center.run("tiny-run", ["e1"], timeout=120)
    assert job.status == "FAILED"
    assert "cannot start the run" in job.status_reason
    assert "the stored archive does not match its SHA-256" in job.status_reason
    notes = [line.text for line in services.run_data.logs(SYSTEM, job.id)]
    assert not any("restart" in text for text in notes), notes
