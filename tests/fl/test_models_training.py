import hashlib

import numpy as np
import pytest
import safetensors

from app.core.artifacts import ArtifactCorrupted, load_weights, save_weights
from app.core.datasets import load_dataset
from app.core.fl_config import DatasetSpec, ModelSpec, TrainingSpec
from app.core.models import build_model, get_weights, set_weights
from app.core.training import evaluate, train_local


@pytest.mark.parametrize(
    ("kind", "dataset"),
    [
        ("logreg", "digits"),
        ("mlp", "digits"),
        ("cnn", "digits"),
        ("cnn", "mnist1d"),
        ("mlp", "synthetic"),
    ],
)
def test_models_train_on_every_dataset(kind, dataset):
    data = load_dataset(DatasetSpec(name=dataset, samples=600), 0)
    model = build_model(ModelSpec(kind=kind, hidden=[32]), data.input_shape, data.num_classes)
    before, _ = evaluate(model, data.x_train, data.y_train)
    train_local(model, data.x_train, data.y_train, TrainingSpec(local_epochs=3, lr=0.05), seed=0)
    after, _ = evaluate(model, data.x_train, data.y_train)
    assert after < before


def test_training_is_reproducible():
    data = load_dataset(DatasetSpec(name="digits"), 0)
    runs = []
    for _ in range(2):
        import torch

        torch.manual_seed(1)
        model = build_model(ModelSpec(), data.input_shape, data.num_classes)
        train_local(model, data.x_train, data.y_train, TrainingSpec(), seed=7)
        runs.append(get_weights(model))
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_set_weights_refuses_a_wrong_shape():
    model = build_model(ModelSpec(hidden=[8]), (4,), 2)
    weights = get_weights(model)
    weights["1.weight"] = np.zeros((9, 4), np.float32)
    with pytest.raises(ValueError, match=r"1\.weight"):
        set_weights(model, weights)
    with pytest.raises(ValueError, match="missing"):
        set_weights(model, {})


def test_artifacts_are_checked_on_read(tmp_path):
    stored = save_weights(tmp_path / "m.safetensors", {"w": np.arange(6, dtype=np.float32)})
    assert np.array_equal(load_weights(stored.path, stored.sha256)["w"], np.arange(6))
    raw = bytearray(stored.path.read_bytes())
    raw[-1] ^= 1
    stored.path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactCorrupted, match="corrupted"):
        load_weights(stored.path, stored.sha256)
    with pytest.raises(ArtifactCorrupted, match="cannot be read"):
        load_weights(tmp_path / "missing", stored.sha256)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 16)
    with pytest.raises(ArtifactCorrupted, match="not a safetensors file"):
        load_weights(junk, hashlib.sha256(junk.read_bytes()).hexdigest())


def test_a_stored_model_is_a_safetensors_file_with_its_sha256(tmp_path):
    """Written from the arrays and hashed as written: safetensors reads the tensors and the
    metadata back, strided and big-endian tensors included, and the digest is the file's."""
    weights = {
        "b": np.arange(5, dtype=">f4"),
        "a.weight": np.arange(12, dtype=np.float64).reshape(3, 4).T,
        "n": np.array(7, dtype=np.int64),
    }
    metadata = {"job_id": "3", "round": "2", "node": "edge-1"}
    stored = save_weights(tmp_path / "m.safetensors", weights, metadata)
    raw = stored.path.read_bytes()
    assert stored.sha256 == hashlib.sha256(raw).hexdigest() and stored.bytes == len(raw)
    assert not stored.path.with_suffix(".partial").exists()
    with safetensors.safe_open(stored.path, "numpy") as f:
        assert f.metadata() == metadata
        theirs = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    ours = load_weights(stored.path, stored.sha256)
    for name, value in weights.items():
        assert np.array_equal(theirs[name], value) and np.array_equal(ours[name], value)
        assert ours[name].flags.writeable


def test_weights_taken_from_a_model_do_not_change_with_it():
    import torch

    model = build_model(ModelSpec(hidden=[8]), (4,), 2)
    taken = get_weights(model)
    before = {k: v.copy() for k, v in taken.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert all(np.array_equal(taken[k], before[k]) for k in taken)
    assert all(v.flags.writeable and v.flags.c_contiguous for v in taken.values())
