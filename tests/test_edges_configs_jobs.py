import pytest

from app.core.fl_config import FLConfig
from app.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PermissionDenied
from tests.helpers import SAMPLE_CONFIG


def test_edge_token_shown_once_and_stored_hashed(services, operator, db):
    from sqlalchemy import select

    from app.storage.models import Edge

    new = services.edges.register(operator, "pi-1", tags=["arm", "lab"])
    assert new.token.startswith(new.edge.device_id + ".")
    with db.session() as s:
        stored = s.scalar(select(Edge.token_hash))
    assert new.token not in stored and len(stored) == 64
    assert services.edges.authenticate(new.token).name == "pi-1"
    with pytest.raises(AuthenticationFailed):
        services.edges.authenticate(new.token + "x")
    with pytest.raises(AuthenticationFailed, match="malformed"):
        services.edges.authenticate("garbage")


def test_edge_lifecycle(services, operator, viewer):
    new = services.edges.register(operator, "pi-1", tags=["arm"])
    with pytest.raises(Conflict, match="exists already"):
        services.edges.register(operator, "pi-1")
    services.edges.register(operator, "pi-2", tags=["x86"])
    assert [e.name for e in services.edges.list(viewer, tag="arm")] == ["pi-1"]
    assert services.edges.rename(operator, "pi-1", "pi-a").name == "pi-a"
    assert services.edges.set_tags(operator, "pi-a", ["b", "a", "a"]).tags == ["a", "b"]
    rec = services.edges.set_status(operator, "pi-a", "TRAINING", hardware={"cpus": 4})
    assert rec.status == "TRAINING" and rec.last_seen is not None and rec.hardware == {"cpus": 4}
    with pytest.raises(InvalidInput, match="unknown edge status"):
        services.edges.set_status(operator, "pi-a", "DANCING")
    with pytest.raises(PermissionDenied):
        services.edges.register(viewer, "pi-3")
    services.edges.remove(operator, "pi-a")
    with pytest.raises(NotFound):
        services.edges.get(operator, "pi-a")
    with pytest.raises(AuthenticationFailed, match="revoked"):
        services.edges.authenticate(new.token)


def test_config_versions(services, operator):
    cfg = FLConfig.model_validate(SAMPLE_CONFIG)
    assert services.configs.save(operator, cfg).version == 1
    edited = cfg.model_copy(update={"description": "second"})
    assert services.configs.save(operator, edited).version == 2
    assert services.configs.get(operator, cfg.name).version == 2
    assert services.configs.get(operator, cfg.name, 1).body["description"] == cfg.description
    assert [c.version for c in services.configs.history(operator, cfg.name)] == [1, 2]
    assert len(services.configs.list(operator)) == 1
    with pytest.raises(NotFound, match="version 9"):
        services.configs.get(operator, cfg.name, 9)


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        ({"model": {"kind": "transformer"}}, "model.kind"),
        ({"training": {"lr": -0.1}}, "training.lr"),
        ({"training": {"rounds": 0}}, "training.rounds"),
        ({"partitioning": {"kind": "dirichlet", "alpha": 0}}, "partitioning.alpha"),
        ({"algorithm": {"name": "fedavg", "learning_rate": 1}}, "algorithm.learning_rate"),
        ({"name": "has space"}, "name"),
    ],
)
def test_bad_configs_are_refused_with_the_field_named(services, operator, patch, error):
    data = {**SAMPLE_CONFIG, **patch}
    with pytest.raises(InvalidInput, match=error):
        services.configs.save_dict(operator, data)
    assert services.configs.list(operator) == []


def test_toml_round_trip(services, operator, tmp_path):
    from app.core.fl_config import config_from_toml

    path = tmp_path / "c.toml"
    path.write_text(
        'name = "t1"\n[training]\nrounds = 3\nlr = 0.2\n[partitioning]\nkind = "shards"\n'
    )
    rec = services.configs.import_toml(operator, path)
    text = services.configs.export_toml(operator, "t1")
    again = config_from_toml(text)
    assert again.model_dump(mode="json") == rec.body
    assert again.training.rounds == 3 and again.partitioning.kind == "shards"


def test_broken_toml_files(services, operator, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        services.configs.import_toml(operator, bad)
    with pytest.raises(InvalidInput, match="cannot read"):
        services.configs.import_toml(operator, tmp_path / "missing.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidInput):
        services.configs.import_toml(operator, binary)


@pytest.fixture
def job_setup(services, admin, operator):
    services.projects.create(operator, "digits")
    services.configs.save_dict(operator, SAMPLE_CONFIG)
    for name in ("e1", "e2"):
        services.edges.register(operator, name)
    return services


def test_job_snapshot_and_transitions(job_setup, operator):
    jobs = job_setup.jobs
    job = jobs.create(operator, "run-1", "digits", SAMPLE_CONFIG["name"], ["e1", "e2"], tags=["a"])
    assert job.status == "QUEUED" and job.config_version == 1 and job.edges == ["e1", "e2"]
    # Editing the config later does not change the job's snapshot.
    job_setup.configs.save_dict(operator, {**SAMPLE_CONFIG, "description": "changed"})
    assert jobs.get(operator, job.id).config_snapshot["description"] == SAMPLE_CONFIG["description"]
    for status in ("STARTING", "RUNNING", "FINISHED"):
        job = jobs.transition(operator, job.id, status)
    assert job.started_at is not None and job.finished_at is not None
    assert [h["status"] for h in job.history] == ["QUEUED", "STARTING", "RUNNING", "FINISHED"]
    with pytest.raises(InvalidInput, match="is FINISHED; it cannot become RUNNING"):
        jobs.transition(operator, job.id, "RUNNING")


def test_illegal_transitions(job_setup, operator):
    job = job_setup.jobs.create(operator, "r", "digits", SAMPLE_CONFIG["name"], ["e1", "e2"])
    with pytest.raises(InvalidInput, match="cannot become FINISHED"):
        job_setup.jobs.transition(operator, job.id, "FINISHED")
    with pytest.raises(InvalidInput, match="unknown job status"):
        job_setup.jobs.transition(operator, job.id, "PAUSED")
    assert job_setup.jobs.get(operator, job.id).status == "QUEUED"


@pytest.mark.parametrize(
    ("kwargs", "error", "exc"),
    [
        ({"project": "nope"}, "no project", NotFound),
        ({"config": "nope"}, "no config", NotFound),
        ({"edges": ["e1", "ghost"]}, "no edge", NotFound),
        ({"edges": ["e1"]}, "min_clients", InvalidInput),
        ({"name": " "}, "job name", InvalidInput),
    ],
)
def test_job_bad_input(job_setup, operator, kwargs, error, exc):
    args = {
        "name": "r",
        "project": "digits",
        "config": SAMPLE_CONFIG["name"],
        "edges": ["e1", "e2"],
    }
    with pytest.raises(exc, match=error):
        job_setup.jobs.create(operator, **{**args, **kwargs})
    assert job_setup.jobs.list(operator) == []


def test_viewer_cannot_start_or_stop_jobs(job_setup, operator, viewer):
    with pytest.raises(PermissionDenied, match="may not start jobs"):
        job_setup.jobs.create(viewer, "r", "digits", SAMPLE_CONFIG["name"], ["e1", "e2"])
    job = job_setup.jobs.create(operator, "r", "digits", SAMPLE_CONFIG["name"], ["e1", "e2"])
    with pytest.raises(PermissionDenied, match="may not stop jobs"):
        job_setup.jobs.transition(viewer, job.id, "STOPPED")
    assert [j.name for j in job_setup.jobs.list(viewer)] == ["r"]


def test_job_filters_and_progress(job_setup, operator):
    jobs = job_setup.jobs
    a = jobs.create(operator, "a", "digits", SAMPLE_CONFIG["name"], ["e1", "e2"], tags=["x"])
    jobs.create(operator, "b", "digits", SAMPLE_CONFIG["name"], ["e1", "e2"], tags=["y"])
    jobs.transition(operator, a.id, "STARTING")
    assert [j.name for j in jobs.list(operator, status="starting")] == ["a"]
    assert [j.name for j in jobs.list(operator, tag="y")] == ["b"]
    assert len(jobs.list(operator, project="digits")) == 2
    jobs.record_progress(operator, a.id, 3)
    with pytest.raises(InvalidInput, match="stale"):
        jobs.record_progress(operator, a.id, 2)
    assert jobs.get(operator, a.id).current_round == 3
