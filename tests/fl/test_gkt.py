"""FedGKT's parts without processes: the distillation loss, the models' shapes, what the
server refuses of an edge's upload, and the configs it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.core.fl_config import parse_config
from app.core.gkt.distill import forward, kd_loss, scores, train
from app.core.gkt.models import EdgeNet, server_net
from app.core.gkt.server import Upload
from app.errors import InvalidInput
from app.wire.messages import Message, MessageType


def test_the_distillation_loss_is_zero_only_when_the_logits_agree():
    logits = torch.randn(5, 10)
    assert float(kd_loss(logits, logits, 3.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_loss(logits, torch.randn(5, 10), 3.0)) > 0.01


@pytest.mark.parametrize("shape, features", [((1, 8, 8), 256), ((1, 40), 320)])
def test_the_edge_cnn_gives_features_the_server_model_reads(shape, features):
    edge = EdgeNet(shape, 10)
    assert edge.features == features
    x = np.random.default_rng(0).normal(size=(6, *shape)).astype(np.float32)
    made = forward(edge.extractor, x)
    assert made.shape == (6, features)
    assert forward(server_net(features, [32, 16], 10), made).shape == (6, 10)


def test_training_with_a_teacher_pulls_towards_its_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    teacher = np.zeros((64, 4), np.float32)
    teacher[:, 2] = 8.0  # a teacher sure of class 2, whatever the labels say
    settings = dict(epochs=30, batch_size=16, lr=0.1, momentum=0.9, temperature=1.0, seed=0)
    student = server_net(16, [16], 4)
    train(student, x, y, teacher, alpha=20.0, **settings)
    plain = server_net(16, [16], 4)
    train(plain, x, y, None, alpha=20.0, **settings)
    assert (forward(student, x).argmax(1) == 2).mean() > (forward(plain, x).argmax(1) == 2).mean()
    assert scores(forward(plain, x), y)["accuracy"] > 0.5


def upload(**changes) -> Message:
    n, m = 5, 3
    tensors = {
        "features": np.ones((n, 8), np.float32),
        "logits": np.zeros((n, 4), np.float32),
        "labels": np.arange(n) % 4,
        "val_features": np.ones((m, 8), np.float32),
        "val_labels": np.arange(m),
    }
    tensors.update(changes)
    return Message(MessageType.MODEL_UP, round=1, body={"gkt": "features", "num_samples": n,
                   "edge": {"accuracy": 0.5}}, tensors=tensors)  # fmt: skip


def test_the_server_checks_each_upload_and_names_what_is_wrong():
    good = Upload(upload(), 8, 4)
    assert good.accuracy == 0.5 and good.bytes == 5 * 8 * 4 + 5 * 4 * 4 + 5 * 8 + 3 * 8 * 4 + 3 * 8
    bad = {
        "features is (5, 7), not (5, 8)": {"features": np.ones((5, 7), np.float32)},
        "logits has values that are not finite": {"logits": np.full((5, 4), np.nan, np.float32)},
        "labels outside 0..3": {"labels": np.array([0, 1, 2, 3, 9])},
    }
    for reason, change in bad.items():
        with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            Upload(upload(**change), 8, 4)
    message = upload()
    del message.tensors["labels"]
    with pytest.raises(ValueError, match="lacks labels"):
        Upload(message, 8, 4)


def test_fedgkt_needs_a_built_in_image_or_sequence_task():
    for bad in ({"dataset": {"name": "synthetic"}}, {"task": {"name": "cancer-mlp"}}):
        with pytest.raises(InvalidInput, match="built-in image or sequence task"):
            parse_config({"name": "c", "algorithm": {"name": "fedgkt"}, **bad})
    with pytest.raises(InvalidInput, match="apply to the FedAvg family"):
        parse_config({"name": "c", "algorithm": {"name": "fedgkt", "aggregation": "median"}})
    config = parse_config({"name": "c", "algorithm": {"name": "fedgkt", "temperature": 2.0}})
    assert config.algorithm.temperature == 2.0 and config.algorithm.server_epochs == 1
