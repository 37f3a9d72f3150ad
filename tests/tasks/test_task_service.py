"""Stored tasks: versioned by content, signed, refused by name clash, checked on read; a
config names one and a job fixes the version and hash it runs."""

import pytest
from sqlalchemy import update

from app.core.fl_config import config_from_toml
from app.core.tasks import archive
from app.core.tasks.signature import verify
from app.errors import Conflict, InvalidInput, PermissionDenied
from app.services import Services
from app.services.security.auth import SYSTEM
from app.storage import open_database
from app.storage.models import Task
from tests.tasks.test_task_checks import TASK_PY, make_task


@pytest.fixture
def services(tmp_path):
    svc = Services.for_database(open_database(f"sqlite:///{tmp_path / 'd.db'}"), tmp_path)
    svc.groups.add(SYSTEM, "lab")
    svc.projects.create(SYSTEM, "p", "lab")
    svc.edges.register(SYSTEM, "e1")
    yield svc
    svc.close()


def test_versions_follow_the_code_not_the_calls(services, tmp_path):
    folder = make_task(tmp_path / "t")
    first, new = services.tasks.add(SYSTEM, folder)
    assert new and first.version == 1 and not first.builtin
    again, new = services.tasks.add(SYSTEM, folder)
    assert not new and again.version == 1 and again.sha256 == first.sha256
    (folder / "task.py").write_text(TASK_PY + "\n# tuned\n")
    second, new = services.tasks.add(SYSTEM, folder)
    assert new and second.version == 2 and second.sha256 != first.sha256
    assert [
        t.version for t in services.tasks.list(SYSTEM, all_versions=True) if t.name == "tiny"
    ] == [
        1,
        2,
    ]
    assert services.tasks.get(SYSTEM, "tiny").version == 2
    assert services.tasks.get(SYSTEM, "tiny", 1).sha256 == first.sha256


def test_the_stored_archive_is_signed_and_checked_when_read(services, tmp_path):
    record, _ = services.tasks.add(SYSTEM, make_task(tmp_path / "t"))
    spec = services.tasks.shipped(SYSTEM, "tiny", 1, record.sha256)
    verify(
        bytes.fromhex(spec.public_key),
        bytes.fromhex(spec.signature),
        "tiny",
        "1.0",
        record.sha256,
        services.tasks.center_fingerprint(),
    )
    assert archive.sha256(services.tasks.archive(SYSTEM, "tiny")) == record.sha256
    with services.db.session() as s:  # someone edits the database behind FedDeck's back
        s.execute(update(Task).values(archive=b"x" * 100))
    with pytest.raises(InvalidInput, match="does not match its SHA-256"):
        services.tasks.archive(SYSTEM, "tiny")
    assert services.tasks.get(SYSTEM, "tiny").version == 1  # the record itself is intact


def test_a_builtin_name_is_refused(services, tmp_path):
    with pytest.raises(Conflict, match="built into FedDeck"):
        services.tasks.add(SYSTEM, make_task(tmp_path / "t", name="digits"))


def test_configs_name_a_task_and_jobs_fix_its_version(services, tmp_path):
    with pytest.raises(InvalidInput, match="config 'c': no task 'tiny'; add it with"):
        services.configs.save(SYSTEM, config_from_toml('name = "c"\n[task]\nname = "tiny"\n'))
    v1, _ = services.tasks.add(SYSTEM, make_task(tmp_path / "t"))
    services.configs.save(SYSTEM, config_from_toml('name = "c"\n[task]\nname = "tiny"\n'))
    services.configs.save(
        SYSTEM, config_from_toml('name = "pinned"\n[task]\nname = "tiny"\nversion = 1\n')
    )
    (tmp_path / "t" / "task.py").write_text(TASK_PY + "\n# v2\n")
    v2, _ = services.tasks.add(SYSTEM, tmp_path / "t")
    latest = services.jobs.create(SYSTEM, "j", "p", "c", ["e1"])
    pinned = services.jobs.create(SYSTEM, "k", "p", "pinned", ["e1"])
    assert (latest.task_version, latest.task_sha256) == (2, v2.sha256)
    assert (pinned.task_version, pinned.task_sha256) == (1, v1.sha256)
    builtin = services.configs.save(SYSTEM, config_from_toml('name = "b"\n'))
    job = services.jobs.create(SYSTEM, "b", "p", builtin.name, ["e1"])
    assert (job.task_name, job.task_version) == ("digits", 0)
    with pytest.raises(InvalidInput, match="built in: it has no version 3"):
        services.configs.save(
            SYSTEM, config_from_toml('name = "x"\n[task]\nname = "digits"\nversion = 3\n')
        )


def test_a_viewer_may_read_tasks_but_not_add_them(services, tmp_path):
    services.users.create_first_admin("admin", "adminpass1")
    admin = services.users.login("admin", "adminpass1")
    services.users.add(admin, "vera", "verapass12", "viewer")
    vera = services.users.login("vera", "verapass12")
    with pytest.raises(PermissionDenied, match="add tasks"):
        services.tasks.add(vera, make_task(tmp_path / "t"))
    assert {t.name for t in services.tasks.list(vera)} >= {"digits", "csv-mlp"}


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({"task.py": TASK_PY + "\ndef train(model data):\n    pass\n"}, r"task\.py:\d+:\d+: "),
        (
            {"task.py": TASK_PY, "helpers.py": "x = (\n"},
            r"helpers\.py:1:\d+: '\(' was never closed",
        ),
        ({"task.py": "def build_model(config):\n    pass\n"}, "task.py defines no load_data"),
        ({"task.py": "import torch\n"}, "defines no build_model and no load_data"),
    ],
)
def test_a_module_that_cannot_run_is_refused_when_added(services, tmp_path, files, said):
    folder = make_task(tmp_path / "t")
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(InvalidInput, match=said):
        services.tasks.add(SYSTEM, folder)
    assert services.tasks.list(SYSTEM) == [t for t in services.tasks.list(SYSTEM) if t.builtin]


def test_a_module_that_defines_the_calls_some_other_way_is_accepted(services, tmp_path):
    body = (
        "from torch import nn\n"
        "from .model import build_model\n"
        "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n"
        "if numpy is not None:\n    def load_data(data_dir, config):\n        return None\n"
    )
    folder = make_task(tmp_path / "t", body=body)
    (folder / "model.py").write_text(
        "from torch import nn\n\ndef build_model(c):\n    return nn.Linear(1, 1)\n"
    )
    record, new = services.tasks.add(SYSTEM, folder)
    assert new and record.version == 1
