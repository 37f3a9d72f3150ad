"""An edge's side of a FedGKT run: its own small CNN, trained on its data and on the server's
logits for it, and what it sends for the server's model to learn from.

Each round the server sends this edge its logits for the edge's training samples (none in
the first round). The edge trains its CNN on its labels plus alpha times the distillation
loss towards those logits; tests the CNN on the task's test split (its own accuracy, which
never leaves but as a figure); then sends the features its extractor makes of its training
samples with its logits and labels, and the features of its validation split (the server
tests its own model on them). Its model and images stay here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from app.core.datasets import load_dataset
from app.core.gkt.distill import forward, scores, train
from app.core.gkt.models import EdgeNet, input_shape_of
from app.core.run.protocol import finite_figures
from app.core.tasks.runtime import as_arrays
from app.wire.messages import Message, MessageType

ROUND, FEATURES = "round", "features"  # the "gkt" of the server's and the edge's messages


class GKTNode:
    def __init__(
        self, hub, run, me: str, invitation: dict, say: Callable[[str, str], None], progress
    ) -> None:
        self.hub, self.run, self.me, self.say = hub, run, me, say
        cfg = run.config
        train_data, validation = as_arrays(run.train_data), as_arrays(run.validation)
        test = as_arrays(run.task.load_test_data(run.task_config))
        if train_data is None or test is None:
            raise ValueError("fedgkt needs a built-in task whose data are arrays")
        self.x, self.y = train_data
        self.x_val, self.y_val = validation if validation is not None else (self.x[:0], self.y[:0])
        self.x_test, self.y_test = test
        data = load_dataset(cfg.dataset, cfg.training.seed)  # the classes, as the server has them
        torch.manual_seed(cfg.training.seed)
        self.model = EdgeNet(input_shape_of(data.input_shape), data.num_classes)
        self.classes = data.num_classes
        self.last_round = 0
        self.last_upload: Message | None = None

    def subscriptions(self) -> list:
        return []  # the server writes to this edge's own control topic

    def stop(self) -> None:
        pass  # rounds run on the edge's worker thread, one message at a time

    def on_message(self, message: Message) -> None:
        body = message.body
        if message.type != MessageType.MODEL_DOWN or body.get("gkt") != ROUND:
            return
        rnd = int(message.round or 0)
        if rnd <= self.last_round:  # sent again (this edge reconnected): the same answer
            if rnd == self.last_round and self.last_upload is not None:
                self.hub.publish(self._topic("model/up"), self.last_upload)
            return
        self.last_round = rnd
        teacher = message.tensors.get("logits")
        if teacher is not None and teacher.shape != (len(self.y), self.classes):
            self.say(
                "WARNING",
                f"round {rnd}: the server's logits are {teacher.shape}, not "
                f"{(len(self.y), self.classes)}; training on the labels alone",
            )
            teacher = None
        cfg, spec = self.run.config.training, self.run.config.algorithm
        loss = train(
            self.model,
            self.x,
            self.y,
            None if teacher is None else np.asarray(teacher, np.float32),
            epochs=cfg.local_epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr_at(rnd),
            momentum=cfg.momentum,
            temperature=spec.temperature,
            alpha=spec.alpha,
            seed=cfg.edge_seed(rnd, self.run.partition),
        )
        tested = scores(forward(self.model, self.x_test), self.y_test)
        features = forward(self.model.extractor, self.x)
        self.last_upload = Message(
            MessageType.MODEL_UP,
            job_id=self.run.address.job_id,
            round=rnd,
            body={"gkt": FEATURES, "num_samples": len(self.y), "edge": tested, "train_loss": loss},
            tensors={
                "features": features,
                "logits": forward(self.model.head, features),
                "labels": self.y,
                "val_features": forward(self.model.extractor, self.x_val),
                "val_labels": self.y_val,
            },
        )
        self.hub.publish(self._topic("model/up"), self.last_upload)
        values, _ = finite_figures(
            {**{f"test_{k}": v for k, v in tested.items()}, "train_loss": loss}
        )
        self.hub.publish(
            self._topic("metrics"),
            Message(
                MessageType.METRICS,
                job_id=self.run.address.job_id,
                round=rnd,
                body={"node": self.me, "values": values},
            ),
        )
        self.say(
            "INFO",
            f"round {rnd}: its CNN tests at accuracy "
            f"{tested.get('accuracy', float('nan')):.4f}; features of {len(self.y)} samples "
            f"sent{' (distilled from the server)' if teacher is not None else ''}",
        )

    def _topic(self, kind: str) -> str:
        return self.run.address.topic(self.me, kind)
