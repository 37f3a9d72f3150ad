"""The server of a FedGKT run (He et al. 2020): a larger model trained on the edges' features.

Round r: send each edge the server's logits for its training samples (none in round 1);
take back from each its features, logits and labels, and the features of its validation
split; train the server model on all of them for `server_epochs` (labels plus alpha times
distillation towards the edges' logits at `temperature`); compute its logits for each
edge's samples for round r + 1; test it on the validation features (the test split, seen
through each edge's extractor). Recorded each round: the server model's accuracy and loss
(`test_*`), the edges' own CNNs' (`edge_accuracy`, its min and max), the bytes that went
down and up, and the server model as the round's aggregate. No edge model is ever sent.
"""

from __future__ import annotations

import logging
import queue
import statistics
import time

import numpy as np
import torch

from app.core.datasets import load_dataset
from app.core.gkt.distill import forward, scores, train
from app.core.gkt.models import EdgeNet, input_shape_of, server_net
from app.core.gkt.node import FEATURES, ROUND
from app.core.models import get_weights
from app.core.run.coordinator import RunCoordinator, Stopped
from app.core.run.joining import invite_edges
from app.core.run.protocol import (
    FAILED,
    FINISHED,
    LEAVE,
    RUNNING,
    STOPPED,
    finite_figures,
)
from app.core.run.spec import RunOutcome
from app.wire import topics
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class Upload:
    """One edge's round: checked as it arrives."""

    def __init__(self, message: Message, features: int, classes: int) -> None:
        t, n = message.tensors, message.body.get("num_samples")
        need = ("features", "logits", "labels", "val_features", "val_labels")
        missing = [k for k in need if k not in t]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        shapes = {
            "features": (n, features),
            "logits": (n, classes),
            "labels": (n,),
            "val_features": (len(t["val_labels"]), features),
        }
        for key, shape in shapes.items():
            if tuple(t[key].shape) != shape:
                raise ValueError(f"{key} is {tuple(t[key].shape)}, not {shape}")
        for key in ("features", "logits", "val_features"):
            if not np.isfinite(t[key]).all():
                raise ValueError(f"{key} has values that are not finite")
        for key in ("labels", "val_labels"):
            if len(t[key]) and not (t[key].min() >= 0 and t[key].max() < classes):
                raise ValueError(f"{key} outside 0..{classes - 1}")
        edge = message.body.get("edge") or {}
        self.accuracy = edge.get("accuracy") if isinstance(edge, dict) else None
        self.tensors = {k: np.asarray(t[k]) for k in need}
        self.bytes = sum(int(v.nbytes) for v in t.values())


class GKTServer(RunCoordinator):
    def serve(self) -> RunOutcome:
        outcome = RunOutcome(RUNNING, 0)
        subs = [
            self.hub.subscribe(self.run.pattern("+", "model/up"), self._on_message),
            self.hub.subscribe(self.run.pattern("+", "status"), self.liveness.on_run_status),
            self.hub.subscribe(topics.edge_pattern("+", "status"), self.liveness.on_edge_status),
            self.hub.subscribe(self.run.center_control, self._on_control),
        ]
        try:
            self._serve(outcome)
            outcome.state = FINISHED
        except Stopped:
            outcome.state, outcome.reason = STOPPED, "stopped by the operator"
            if self._failure:
                outcome.state, outcome.reason = FAILED, self._failure
        except (RuntimeError, ValueError) as exc:
            outcome.state, outcome.reason = FAILED, str(exc)
        if outcome.state != FINISHED:
            self.say("ERROR" if outcome.state == FAILED else "WARNING", outcome.reason)
        self.hub.publish(
            self.run.server_control,
            Message(MessageType.CONTROL, job_id=self.spec.job_id, body={"action": LEAVE}),
        )
        self.out.status(
            outcome.state,
            outcome.rounds_done,
            reason=outcome.reason,
            test_accuracy=outcome.test_accuracy,
        )
        self.hub.flush(30)
        for sub in subs:
            self.hub.unsubscribe(sub)
        return outcome

    def _serve(self, outcome: RunOutcome) -> None:
        cfg, spec = self.config.training, self.config.algorithm
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(1)
        data = load_dataset(self.config.dataset, cfg.seed)  # its shape and classes only
        self.classes = data.num_classes
        self.features = EdgeNet(input_shape_of(data.input_shape), self.classes).features
        model = server_net(self.features, list(self.config.model.hidden), self.classes)
        self.say(
            "INFO",
            f"fedgkt: the server model takes the edges' {self.features} features "
            f"through layers {list(self.config.model.hidden)}",
        )
        if not invite_edges(self.hub, self.spec, self.members, self._stop, self.say):
            raise Stopped
        self.out.status(RUNNING, 0)
        teacher: dict[str, np.ndarray] = {}
        for rnd in range(1, cfg.rounds + 1):
            self.liveness.round_now = rnd
            alive = self.members.alive()
            if len(alive) < cfg.min_clients:
                raise RuntimeError(
                    f"round {rnd}: only {len(alive)} edges left; min_clients is {cfg.min_clients}"
                )
            down = 0
            for edge in alive:
                tensors = {"logits": teacher[edge]} if edge in teacher else {}
                down += sum(int(v.nbytes) for v in tensors.values())
                self.hub.publish(
                    topics.edge_topic(edge, "control"),
                    Message(
                        MessageType.MODEL_DOWN,
                        job_id=self.spec.job_id,
                        round=rnd,
                        body={"gkt": ROUND},
                        tensors=tensors,
                    ),
                )
            got = self._collect(rnd, set(alive))
            uploads = {e: got[e] for e in self.spec.edges if e in got}  # the same order always
            if len(uploads) < cfg.min_clients:
                raise RuntimeError(
                    f"round {rnd}: {len(uploads)} edges sent features; "
                    f"min_clients is {cfg.min_clients}"
                )
            joined = {
                k: np.concatenate([u.tensors[k] for u in uploads.values()])
                for k in ("features", "labels", "logits", "val_features", "val_labels")
            }
            loss = train(
                model,
                joined["features"],
                joined["labels"],
                joined["logits"],
                epochs=spec.server_epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr_at(rnd),
                momentum=cfg.momentum,
                temperature=spec.temperature,
                alpha=spec.alpha,
                seed=cfg.seed * 100_003 + rnd,
            )
            teacher = {e: forward(model, u.tensors["features"]) for e, u in uploads.items()}
            tested = scores(forward(model, joined["val_features"]), joined["val_labels"])
            edges = [u.accuracy for u in uploads.values() if isinstance(u.accuracy, float)]
            up = sum(u.bytes for u in uploads.values())
            values = {
                **{f"test_{k}": v for k, v in tested.items()},
                "server_train_loss": loss,
                "bytes_down": float(down),
                "bytes_up": float(up),
                "bytes_per_round": float(down + up),
            }
            if edges:
                values |= {
                    "edge_accuracy": statistics.fmean(edges),
                    "edge_accuracy_min": min(edges),
                    "edge_accuracy_max": max(edges),
                }
            values, _ = finite_figures(values)
            self.out.store(rnd, "aggregate", get_weights(model))
            self.out.metrics(rnd, values)
            outcome.rounds_done, outcome.test_accuracy = rnd, values.get("test_accuracy")
            outcome.history.append({"round": rnd, **values})
            self.out.status(RUNNING, rnd, test_accuracy=outcome.test_accuracy)
            self.say(
                "INFO",
                f"round {rnd}/{cfg.rounds}: server model "
                f"{tested.get('accuracy', float('nan')):.4f}, edges' CNNs "
                f"{values.get('edge_accuracy', float('nan')):.4f}, "
                f"{(down + up) / 1e3:.0f} KB moved",
            )

    def _collect(self, rnd: int, waiting: set[str]) -> dict[str, Upload]:
        got: dict[str, Upload] = {}
        deadline = time.monotonic() + self.config.training.round_timeout_s
        while waiting - set(got):
            left = deadline - time.monotonic()
            if left <= 0:
                late = ", ".join(sorted(map(self.members.shown, waiting - set(got))))
                self.say("WARNING", f"round {rnd}: no features from {late} in time; left out")
                break
            try:
                topic, message = self._inbox.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if topic == "stop" or self._stop.is_set():
                raise Stopped
            if topic == "offline":
                waiting &= set(self.members.alive())
                continue
            if (
                message.type != MessageType.MODEL_UP
                or message.body.get("gkt") != FEATURES
                or message.sender not in waiting
                or int(message.round or 0) != rnd
            ):
                continue
            try:
                got[message.sender] = Upload(message, self.features, self.classes)
            except (ValueError, TypeError) as exc:
                self.say(
                    "WARNING",
                    f"round {rnd}: the features of "
                    f"{self.members.shown(message.sender)} are refused: {exc}",
                )
                waiting.discard(message.sender)
        return got
