"""The FL server (aggregator) for one run, on any hub.

Round r: send the global model to the sampled edges, wait for their updates until the
round deadline, refuse updates that are malformed or not finite, aggregate, evaluate on the
held-out test split, store the aggregate and every client update, announce metrics.
An edge that goes offline or misses the deadline is left out; the run fails only when
fewer than `min_clients` remain.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import numpy as np

from app.core.algorithms import ClientUpdate, build_strategy, is_finite, sample_clients
from app.core.artifacts import save_weights
from app.core.datasets import load_dataset
from app.core.run_dir import RunDir
from app.core.run_protocol import (
    FAILED,
    FINISHED,
    JOIN,
    JOINED,
    LEAVE,
    RUNNING,
    STOP,
    STOPPED,
    RunAddress,
    log_message,
)
from app.core.run_spec import RunOutcome, RunSpec, StoredModel
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class _Stopped(Exception):
    pass


class FLServer:
    def __init__(self, hub: Hub, spec: RunSpec) -> None:
        self.hub, self.spec = hub, spec
        self.run = RunAddress(spec.project, spec.run_id)
        self.config = spec.config
        self._inbox: queue.Queue[tuple[str, Message]] = queue.Queue()
        self._stop = threading.Event()
        self._offline: set[str] = set()
        self._joined: set[str] = set()
        self._lock = threading.Lock()

    # -- hub handlers (dispatch thread) ---------------------------------------------------
    def _on_update(self, topic: str, message: Message) -> None:
        self._inbox.put((topic, message))

    def _on_run_status(self, topic: str, message: Message) -> None:
        if message.body.get("state") == JOINED and message.sender in self.spec.edges:
            with self._lock:
                self._joined.add(message.sender)

    def _on_edge_status(self, topic: str, message: Message) -> None:
        node = topic.split("/")[2]
        if node in self.spec.edges and message.body.get("state") == "OFFLINE":
            with self._lock:
                self._offline.add(node)
            self._inbox.put(("offline", message))

    def _on_control(self, topic: str, message: Message) -> None:
        if message.body.get("action") == STOP:
            self._stop.set()
            self._inbox.put(("stop", message))

    def request_stop(self) -> None:
        self._stop.set()
        self._inbox.put(("stop", Message(MessageType.CONTROL)))

    # -- helpers --------------------------------------------------------------------------
    def say(self, level: str, text: str) -> None:
        getattr(log, level.lower(), log.info)("run %s: %s", self.spec.run_id, text)
        self.hub.publish(self.run.topic(topics.SERVER, "logs"), log_message(self.run, level, text))

    def _status(self, state: str, round_: int, **extra) -> None:
        body = {
            "state": state,
            "round": round_,
            "total_rounds": self.config.training.rounds,
            **extra,
        }
        self.hub.publish(
            self.run.topic(topics.SERVER, "status"),
            Message(MessageType.STATUS, run_id=self.spec.run_id, round=round_, body=body),
        )

    def _alive(self) -> list[str]:
        with self._lock:
            return [e for e in self.spec.edges if e in self._joined and e not in self._offline]

    # -- the run --------------------------------------------------------------------------
    def serve(self) -> RunOutcome:
        import torch

        from app.core.models import build_model, get_weights
        from app.core.training import evaluate_weights

        torch.manual_seed(self.config.training.seed)
        cfg = self.config
        data = load_dataset(cfg.dataset, cfg.training.seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        weights = get_weights(model)
        strategy = build_strategy(cfg.algorithm)
        rng = np.random.default_rng(cfg.training.seed)
        first_round = 1
        outcome = RunOutcome(state=RUNNING, rounds_done=0)
        subs = [
            self.hub.subscribe(self.run.pattern("+", "model/up"), self._on_update),
            self.hub.subscribe(self.run.pattern("+", "status"), self._on_run_status),
            self.hub.subscribe(topics.edge_pattern("+", "status"), self._on_edge_status),
            self.hub.subscribe(self.run.center_control, self._on_control),
        ]
        try:
            if self.spec.resume:
                done = self.spec.resume.after_round
                weights = self._initial_weights(weights, self.spec.resume.model)
                # Server-side optimiser state (FedAdam & co.) restarts; FedAvg resumes exactly.
                first_round, outcome.rounds_done = done + 1, done
                rng = np.random.default_rng([cfg.training.seed, first_round])
                self.say("WARNING", f"server restarted: resuming after round {done}")
            elif self.spec.init_model:
                weights = self._initial_weights(weights, self.spec.init_model)
                self.say(
                    "INFO", f"starting from the aggregated model of {self.spec.init_model.origin}"
                )
            self._invite_edges()
            self._status(RUNNING, first_round - 1)
            for rnd in range(first_round, cfg.training.rounds + 1):
                weights = self._round(rnd, weights, strategy, rng)
                loss, acc = evaluate_weights(model, weights, data.x_test, data.y_test)
                self._store(rnd, "aggregate", weights)
                self._metrics(rnd, {"test_loss": loss, "test_accuracy": acc})
                outcome.rounds_done, outcome.test_accuracy = rnd, acc
                outcome.history.append({"round": rnd, "test_accuracy": acc, "test_loss": loss})
                self._status(RUNNING, rnd, test_accuracy=acc)
                self.say(
                    "INFO",
                    f"round {rnd}/{cfg.training.rounds}: test accuracy {acc:.4f}, loss {loss:.4f}",
                )
            outcome.state = FINISHED
        except _Stopped:
            outcome.state, outcome.reason = STOPPED, "stopped by the operator"
        except RuntimeError as exc:
            outcome.state, outcome.reason = FAILED, str(exc)
        if outcome.state != FINISHED:
            self.say("ERROR" if outcome.state == FAILED else "WARNING", outcome.reason)
        self.hub.publish(
            self.run.server_control,
            Message(MessageType.CONTROL, run_id=self.spec.run_id, body={"action": LEAVE}),
        )
        self._status(
            outcome.state,
            outcome.rounds_done,
            reason=outcome.reason,
            test_accuracy=outcome.test_accuracy,
        )
        self.hub.flush(30)
        for sub in subs:
            self.hub.unsubscribe(sub)
        return outcome

    def _initial_weights(
        self, fresh: dict[str, np.ndarray], source: StoredModel
    ) -> dict[str, np.ndarray]:
        """A stored model, checked: intact (SHA-256) and the same tensors as ours."""
        from app.core.artifacts import ArtifactCorrupted, load_weights

        origin = source.origin
        try:
            loaded = load_weights(source.path, source.sha256)
        except ArtifactCorrupted as exc:
            raise RuntimeError(f"initial model from {origin} refused: {exc}") from exc
        expected = {k: (v.shape, v.dtype) for k, v in fresh.items()}
        got = {k: (v.shape, v.dtype) for k, v in loaded.items()}
        if expected != got:
            diff = sorted(set(expected.items()) ^ set(got.items()))[:3]
            raise RuntimeError(
                f"initial model from {origin} does not fit this run's model: differs in {diff}"
            )
        return {k: np.array(loaded[k]) for k in fresh}

    def _invite_edges(self) -> None:
        cfg = self.config
        for index, edge in enumerate(self.spec.edges):
            body = {
                "action": JOIN,
                "project": self.spec.project,
                "run_id": self.spec.run_id,
                "partition": index,
                "num_partitions": len(self.spec.edges),
                "config": cfg.model_dump(mode="json"),
            }
            self.hub.publish(
                topics.edge_topic(edge, "control"),
                Message(MessageType.CONTROL, run_id=self.spec.run_id, body=body),
            )
        deadline = time.monotonic() + self.spec.join_timeout_s
        while time.monotonic() < deadline and len(self._alive()) < len(self.spec.edges):
            if self._stop.wait(0.05):
                raise _Stopped
        joined = self._alive()
        self.say("INFO", f"{len(joined)} of {len(self.spec.edges)} edges joined")
        if len(joined) < cfg.training.min_clients:
            raise RuntimeError(
                f"only {len(joined)} edges joined; min_clients is {cfg.training.min_clients}"
            )

    def _round(self, rnd, weights, strategy, rng) -> dict[str, np.ndarray]:
        cfg = self.config.training
        selected = sample_clients(self._alive(), cfg.fraction_fit, cfg.min_clients, rng)
        if len(selected) < cfg.min_clients:
            raise RuntimeError(
                f"round {rnd}: only {len(selected)} edges left; min_clients is {cfg.min_clients}"
            )
        body = {"round": rnd, "selected": selected, "prox_mu": strategy.client_prox_mu}
        self.hub.publish(
            self.run.model_down,
            Message(
                MessageType.MODEL_DOWN,
                run_id=self.spec.run_id,
                round=rnd,
                body=body,
                tensors=weights,
            ),
        )
        updates = self._collect(rnd, set(selected), weights)
        if len(updates) < cfg.min_clients:
            missing = sorted(set(selected) - {u.node for u in updates})
            raise RuntimeError(
                f"round {rnd}: {len(updates)} updates arrived (missing: {', '.join(missing)}); "
                f"min_clients is {cfg.min_clients}"
            )
        for update in updates:
            self._store(rnd, update.node, update.weights)
        return strategy.step(weights, updates)

    def _collect(self, rnd: int, waiting: set[str], reference) -> list[ClientUpdate]:
        deadline = time.monotonic() + self.config.training.round_timeout_s
        updates: dict[str, ClientUpdate] = {}
        while waiting - set(updates) - self._offline_set():
            left = deadline - time.monotonic()
            if left <= 0:
                late = sorted(waiting - set(updates))
                self.say("WARNING", f"round {rnd}: deadline passed without {', '.join(late)}")
                with self._lock:
                    self._offline.update(late)
                break
            try:
                kind, message = self._inbox.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if self._stop.is_set():
                raise _Stopped
            if kind in ("offline", "stop") or message.type != MessageType.MODEL_UP:
                continue
            problem = self._check_update(rnd, message, waiting, reference)
            if problem:
                self.say(
                    "WARNING", f"round {rnd}: refused the update from {message.sender}: {problem}"
                )
                continue
            updates[message.sender] = ClientUpdate(
                message.sender, message.tensors, int(message.body["num_samples"])
            )
        return [updates[k] for k in sorted(updates)]

    def _offline_set(self) -> set[str]:
        with self._lock:
            return set(self._offline)

    def _check_update(self, rnd, message: Message, waiting, reference) -> str | None:
        if message.sender not in waiting:
            return "not selected for this round"
        if message.run_id != self.spec.run_id:
            return f"it is for run {message.run_id}"
        if message.round != rnd:
            return f"it is for round {message.round}"
        samples = message.body.get("num_samples")
        if not isinstance(samples, int) or samples <= 0:
            return "num_samples missing or not positive"
        if set(message.tensors) != set(reference):
            return "its tensors do not match the model"
        for name, ref in reference.items():
            got = message.tensors[name]
            if got.shape != ref.shape or got.dtype != ref.dtype:
                want = f"{ref.dtype}{list(ref.shape)}"
                return f"tensor {name!r} is {got.dtype}{list(got.shape)}, expected {want}"
        if not is_finite(message.tensors):
            return "it holds NaN or infinite values"
        return None

    def _store(self, rnd: int, node: str, weights) -> None:
        path = RunDir(self.spec.artifacts_dir, self.spec.run_id).model(rnd, node)
        stored = save_weights(
            path, weights, {"run_id": str(self.spec.run_id), "round": str(rnd), "node": node}
        )
        body = {
            "round": rnd,
            "node": node,
            "path": str(stored.path),
            "sha256": stored.sha256,
            "bytes": stored.bytes,
        }
        self.hub.publish(
            self.run.topic(topics.SERVER, "artifacts"),
            Message(MessageType.ARTIFACT, run_id=self.spec.run_id, round=rnd, body=body),
        )

    def _metrics(self, rnd: int, values: dict[str, float]) -> None:
        self.hub.publish(
            self.run.topic(topics.SERVER, "metrics"),
            Message(
                MessageType.METRICS,
                run_id=self.spec.run_id,
                round=rnd,
                body={"node": "aggregate", "values": values},
            ),
        )
