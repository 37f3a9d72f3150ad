"""What an edge checks before it runs shipped code, each refusal with its reason; and the
task folder's format, archive and loader."""

import io
import tarfile
from pathlib import Path

import pytest

from app.core.tasks import archive
from app.core.tasks.delivery import TaskRefused, edge_task_folder
from app.core.tasks.manifest import read_manifest
from app.core.tasks.runtime import TaskFailed, load_task
from app.errors import InvalidInput
from app.services.security.center_key import center_key

TASK_PY = """
from torch import nn


def build_model(config):
    return nn.Linear(4, 2)


def load_data(data_dir, config):
    return ([[0.0] * 4] * 8, [0, 1] * 4), ([[0.0] * 4] * 2, [0, 1])
"""


def make_task(folder, requirements=(), body=TASK_PY, name="tiny"):
    folder.mkdir(parents=True, exist_ok=True)
    reqs = ", ".join(f'"{r}"' for r in requirements)
    (folder / "task.toml").write_text(
        f'name = "{name}"\nversion = "1.0"\nrequirements = [{reqs}]\n'
    )
    (folder / "task.py").write_text(body)
    return folder


def announce(folder, key, **overrides):
    data = archive.pack(folder)
    sha = archive.sha256(data)
    ann = {
        "name": "tiny",
        "label": "1.0",
        "sha256": sha,
        "builtin": False,
        "requirements": [],
        "signature": key.sign("tiny", "1.0", sha),
        "public_key": key.public_bytes.hex(),
        **overrides,
    }
    return ann, data


@pytest.fixture
def key(tmp_path):
    return center_key(tmp_path / "center")


def test_a_signed_task_from_a_trusted_center_is_unpacked_cached_and_imported(tmp_path, key):
    ann, data = announce(make_task(tmp_path / "src"), key)
    cache = tmp_path / "cache"
    folder = edge_task_folder(ann, data, key.fingerprint, cache)
    assert folder == cache / ann["sha256"] and (folder / "task.py").is_file()
    assert edge_task_folder(ann, data, key.fingerprint, cache) == folder  # from the cache
    task = load_task(folder, ann["sha256"])
    assert task.build_model({}).out_features == 2


@pytest.mark.parametrize(
    ("alter", "said"),
    [
        (lambda f: (f / "task.py").write_text(TASK_PY.replace("(4, 2)", "(4, 3)")), "changed"),
        (lambda f: (f / "helper.py").write_text("import os\n"), "helper.py was added"),
        (lambda f: (f / "task.toml").unlink(), "task.toml was removed"),
    ],
)
def test_an_altered_cache_is_unpacked_again_from_the_verified_archive(tmp_path, key, alter, said):
    ann, data = announce(make_task(tmp_path / "src"), key)
    cache = tmp_path / "cache"
    folder = edge_task_folder(ann, data, key.fingerprint, cache)
    alter(folder)
    warnings = []
    assert edge_task_folder(ann, data, key.fingerprint, cache, warnings.append) == folder
    assert len(warnings) == 1 and said in warnings[0], warnings
    assert "unpacked again from the verified archive" in warnings[0]
    assert archive.difference(folder, data) is None
    assert load_task(folder, ann["sha256"]).build_model({}).out_features == 2


def test_a_tampered_compiled_cache_is_never_run(tmp_path, key):
    """Python would run a .pyc whose header matches its source: the check removes them."""
    ann, data = announce(make_task(tmp_path / "src"), key)
    folder = edge_task_folder(ann, data, key.fingerprint, tmp_path / "cache")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "task.cpython-311.pyc").write_bytes(b"junk")
    warnings = []
    edge_task_folder(ann, data, key.fingerprint, tmp_path / "cache", warnings.append)
    assert not (folder / "__pycache__").exists() and not warnings


def test_one_byte_changed_is_refused(tmp_path, key):
    ann, data = announce(make_task(tmp_path / "src"), key)
    tampered = bytearray(data)
    tampered[600] ^= 1
    with pytest.raises(TaskRefused, match="does not match its SHA-256"):
        edge_task_folder(ann, bytes(tampered), key.fingerprint, tmp_path / "cache")
    assert not (tmp_path / "cache" / ann["sha256"]).exists()


def test_an_unsigned_task_is_refused(tmp_path, key):
    ann, data = announce(make_task(tmp_path / "src"), key, signature="")
    with pytest.raises(TaskRefused, match="not signed"):
        edge_task_folder(ann, data, key.fingerprint, tmp_path / "cache")


def test_a_task_signed_by_another_center_is_refused(tmp_path, key):
    other = center_key(tmp_path / "other")
    ann, data = announce(make_task(tmp_path / "src"), other)
    with pytest.raises(TaskRefused, match="not by the trusted center"):
        edge_task_folder(ann, data, key.fingerprint, tmp_path / "cache")


def test_a_signature_over_other_code_is_refused(tmp_path, key):
    ann, data = announce(make_task(tmp_path / "src"), key)
    ann["signature"] = key.sign("tiny", "1.0", "0" * 64)
    with pytest.raises(TaskRefused, match="signature does not match"):
        edge_task_folder(ann, data, key.fingerprint, tmp_path / "cache")


def test_an_edge_that_did_not_opt_in_refuses_and_names_the_fingerprint(tmp_path, key):
    ann, data = announce(make_task(tmp_path / "src"), key)
    with pytest.raises(TaskRefused, match=f"--trust-center {key.fingerprint}"):
        edge_task_folder(ann, data, None, tmp_path / "cache")


def test_missing_requirements_are_named_and_never_installed(tmp_path, key):
    ann, data = announce(
        make_task(tmp_path / "src"),
        key,
        requirements=["no-such-package-feddeck>=1", "numpy<1", "torch"],
    )
    with pytest.raises(TaskRefused) as refused:
        edge_task_folder(ann, data, key.fingerprint, tmp_path / "cache")
    text = str(refused.value)
    assert "no-such-package-feddeck>=1" in text and "numpy<1 (found" in text
    assert "torch" not in text.replace("task tiny", "")


def test_an_archive_that_would_write_outside_its_folder_is_refused(tmp_path):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("../escape.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InvalidInput, match="not a plain file inside"):
        archive.unpack(out.getvalue(), tmp_path / "dest")
    assert not (tmp_path / "escape.py").exists()


def test_the_archive_is_the_same_for_the_same_code(tmp_path):
    a = make_task(tmp_path / "a")
    b = make_task(tmp_path / "b")
    (b / "__pycache__").mkdir()
    (b / "__pycache__" / "task.cpython-311.pyc").write_bytes(b"junk")
    assert archive.sha256(archive.pack(a)) == archive.sha256(archive.pack(b))
    (b / "task.py").write_text(TASK_PY + "\n# changed\n")
    assert archive.sha256(archive.pack(a)) != archive.sha256(archive.pack(b))


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        ('name = "x"\nentry = "missing"\n', "entry module missing.py is not in"),
        ('name = "x"\nentry = "task.py"\n', r"entry: entry is a module name: drop the \.py"),
        ('name = "x"\nentry = "my-task"\n', "entry 'my-task' is not a module name"),
        ('name = "x"\nrequirements = ["not a requirement!"]\n', "is not a pip requirement"),
        ('name = "x"\nnonsense = 1\n', "nonsense: Extra inputs are not permitted"),
        ('name = "bad name"\n', "name: must be 1-64 letters, digits"),
        ('name = ""\n', "name: may not be empty: 1-64 letters"),
        ("name = \n", "is not valid TOML"),
    ],
)
def test_a_bad_manifest_names_what_is_wrong(tmp_path, toml, reason):
    folder = make_task(tmp_path / "t")
    (folder / "task.toml").write_text(toml)
    with pytest.raises(InvalidInput, match=reason):
        read_manifest(folder)


def test_a_module_without_the_interface_or_that_fails_to_import_is_refused(tmp_path):
    folder = make_task(tmp_path / "t", body="def build_model(config):\n    return None\n")
    with pytest.raises(InvalidInput, match="lacks load_data"):
        load_task(folder, "a" * 64)
    folder = make_task(tmp_path / "u", body="import no_such_module_anywhere\n")
    with pytest.raises(TaskFailed, match=r"importing task\.py raised ModuleNotFoundError"):
        load_task(folder, "b" * 64)


def test_the_example_task_in_resources_is_the_one_the_docs_show(tmp_path):
    from tests.tasks.conftest import write_doc_task

    shipped = Path(__file__).resolve().parents[2] / "resources" / "example-tasks" / "cancer-mlp"
    written = write_doc_task(tmp_path / "cancer-mlp")
    assert archive.sha256(archive.pack(shipped)) == archive.sha256(archive.pack(written))


RANDOM_TRAIN = (
    TASK_PY
    + """
import random

import numpy as np
import torch


def train(model, data, config, ctx):
    return {
        "py": random.random(),
        "np": float(np.random.rand()),
        "torch": float(torch.rand(1)),
        "lr": config["training"]["lr"],
        "ctx_lr": ctx.training.lr,
        "epochs": ctx.training.local_epochs,
    }
"""
)


def test_an_own_train_gets_the_training_values_and_is_seeded_per_edge_and_round(tmp_path):
    """torch, NumPy and `random` are seeded from the run's seed before `train`: the same
    edge and round draw the same numbers, another edge or round others."""
    import logging

    import torch

    from app.core.fl_config import config_from_toml
    from app.core.tasks.runtime import TaskContext

    folder = make_task(tmp_path / "rnd", body=RANDOM_TRAIN)
    task = load_task(folder, archive.sha256(archive.pack(folder)))
    fl = config_from_toml(
        'name = "c"\n[task]\nname = "tiny"\n[training]\nlr = 0.125\nlocal_epochs = 3\n'
    )
    config = task.config_for(fl, partition=0, num_partitions=2)

    def draw(seed: int) -> dict:
        ctx = TaskContext(torch.device("cpu"), 1, fl.training, seed, logging.getLogger("t"))
        model = task.build_model(config)
        return task.train(model, task.load_data(None, config)[0], config, ctx)

    first, again, other = draw(7), draw(7), draw(8)
    assert first == again
    assert all(first[k] != other[k] for k in ("py", "np", "torch"))
    assert (first["lr"], first["ctx_lr"], first["epochs"]) == (0.125, 0.125, 3)


def test_config_show_of_an_own_task_leaves_out_the_builtin_sections():
    from app.core.fl_config import config_from_toml, config_to_toml

    own = config_to_toml(config_from_toml('name = "c"\n[task]\nname = "tiny"\n'))
    assert "[model]" not in own and "[dataset]" not in own and "[training]" in own
    assert config_from_toml(own) == config_from_toml('name = "c"\n[task]\nname = "tiny"\n')
    builtin = config_to_toml(config_from_toml('name = "c"\n'))
    assert "[model]" in builtin and "[dataset]" in builtin
    chosen = config_to_toml(
        config_from_toml('name = "c"\n[task]\nname = "t"\n[model]\nhidden = [8]\n')
    )
    assert "[model]" in chosen  # set by its author: kept
