"""The edge agent: announces itself, heartbeats its load, joins runs, trains, uploads.

Threads: the hub's dispatch thread only queues work; training runs on the agent's worker
thread (so a long epoch never delays messages); the heartbeat has its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading

from app.core.fl_config import FLConfig
from app.core.run_protocol import JOIN, JOINED, LEAVE, STOP, RunAddress, log_message
from app.core.system_stats import SystemSampler, hardware_facts
from app.wire import topics
from app.wire.hub import Hub, HubState
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class _Run:
    def __init__(self, address: RunAddress, config: FLConfig, partition: int, parts: int) -> None:
        self.address, self.config = address, config
        self.partition, self.parts = partition, parts
        self.model = None
        self.x = self.y = None
        self.subs: list = []


class EdgeAgent:
    def __init__(self, hub: Hub, device_id: str, name: str = "", heartbeat_s: float = 2.0) -> None:
        self.hub, self.device_id, self.name = hub, device_id, name or device_id
        self.heartbeat_s = heartbeat_s
        self._work: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._runs: dict[int, _Run] = {}
        self._sampler = SystemSampler()
        self._worker_thread = threading.Thread(target=self._worker, name="edge-worker", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.hub.subscribe(topics.edge_topic(self.device_id, "control"), self._on_control)
        self.hub.on_state(self._on_hub_state)
        if self.hub.state != HubState.CONNECTED:
            self.hub.connect(timeout=30)
        self._announce("IDLE")
        threading.Thread(target=self._heartbeat, name="edge-heartbeat", daemon=True).start()
        self._worker_thread.start()
        # Import torch now, not when the first run arrives: it takes seconds on a small device.
        self._work.put(("warmup", None))

    def stop(self) -> None:
        self._stop.set()
        self._work.put(None)
        if self._worker_thread.is_alive():
            self._worker_thread.join(timeout=30)  # an epoch in progress finishes first
        self._announce("OFFLINE")
        self.hub.flush(5)

    def wait(self) -> None:
        self._stop.wait()

    def _on_hub_state(self, state: HubState) -> None:
        if state == HubState.CONNECTED:
            self._announce("TRAINING" if self._runs else "IDLE")  # seen again after a reconnect

    def _announce(self, state: str) -> None:
        body = {"state": state, "name": self.name, "hardware": hardware_facts()}
        try:
            self.hub.publish(
                topics.edge_topic(self.device_id, "status"), Message(MessageType.STATUS, body=body)
            )
        except Exception as exc:  # the hub may be down; the next heartbeat tells again
            log.debug("status not sent: %s", exc)

    def _heartbeat(self) -> None:
        self._stop.wait(min(0.2, self.heartbeat_s))  # a first sample soon, after CPU priming
        while not self._stop.is_set():
            body = self._sampler.sample()
            body["runs"] = sorted(self._runs)
            try:
                self.hub.publish(
                    topics.edge_topic(self.device_id, "system"),
                    Message(MessageType.SYSTEM, body=body),
                )
            except Exception as exc:
                log.debug("heartbeat not sent: %s", exc)
            self._stop.wait(self.heartbeat_s)

    def say(self, run: _Run | None, level: str, text: str) -> None:
        getattr(log, level.lower(), log.info)("%s: %s", self.name, text)
        if run is not None:
            self.hub.publish(
                run.address.topic(self.device_id, "logs"), log_message(run.address, level, text)
            )

    # -- dispatch thread: only queue --------------------------------------------------------
    def _on_control(self, topic: str, message: Message) -> None:
        self._work.put(("control", message))

    def _on_run_message(self, topic: str, message: Message) -> None:
        self._work.put(("run", message))

    # -- worker thread ------------------------------------------------------------------------
    def _worker(self) -> None:
        while (item := self._work.get()) is not None and not self._stop.is_set():
            kind, message = item
            if kind == "warmup":
                import app.core.training  # noqa: F401  (torch)

                continue
            try:
                if kind == "control":
                    self._handle_control(message)
                elif message.type == MessageType.MODEL_DOWN:
                    self._train(message)
                elif message.type == MessageType.CONTROL and message.body.get("action") in (
                    LEAVE,
                    STOP,
                ):
                    self._leave(message.run_id)
            except Exception as exc:
                if self._stop.is_set():
                    return  # shutting down: the hub may already be closed
                log.exception("edge %s failed to handle %s", self.name, message.type)
                self.say(self._runs.get(message.run_id), "ERROR", f"{type(exc).__name__}: {exc}")

    def _handle_control(self, message: Message) -> None:
        body = message.body
        if body.get("action") == JOIN:
            self._join(body)
        elif body.get("action") in (LEAVE, STOP):
            self._leave(body.get("run_id"))

    def _join(self, body: dict) -> None:
        from app.core.fl_config import parse_config

        run_id, parts, index = body.get("run_id"), body.get("num_partitions"), body.get("partition")
        if not all(isinstance(v, int) for v in (run_id, parts, index)) or not 0 <= index < parts:
            raise ValueError(f"malformed join request: {body}")
        if run_id in self._runs:  # a restarted server invites again: start afresh
            self._leave(run_id)
        run = _Run(
            RunAddress(str(body["project"]), run_id), parse_config(body["config"]), index, parts
        )
        self._prepare(run)
        run.subs = [
            self.hub.subscribe(run.address.model_down, self._on_run_message),
            self.hub.subscribe(run.address.server_control, self._on_run_message),
        ]
        self._runs[run_id] = run
        self._announce("TRAINING")
        self.say(
            run,
            "INFO",
            f"joined run {run_id}: partition {index + 1} of {parts}, {len(run.y)} samples",
        )
        self.hub.publish(
            run.address.topic(self.device_id, "status"),
            Message(
                MessageType.STATUS, run_id=run_id, body={"state": JOINED, "samples": len(run.y)}
            ),
        )

    def _prepare(self, run: _Run) -> None:
        import torch

        from app.core.datasets import load_dataset
        from app.core.models import build_model
        from app.core.partition import partition

        torch.set_num_threads(1)  # many agents share one machine in demos
        cfg = run.config
        data = load_dataset(cfg.dataset, cfg.training.seed)
        share = partition(data.y_train, run.parts, cfg.partitioning)[run.partition]
        run.x, run.y = data.x_train[share], data.y_train[share]
        run.model = build_model(cfg.model, data.input_shape, data.num_classes)

    def _train(self, message: Message) -> None:
        from app.core.models import set_weights
        from app.core.training import train_local

        run = self._runs.get(message.run_id)
        if run is None or self.device_id not in message.body.get("selected", []):
            return
        rnd = int(message.round or 0)
        set_weights(run.model, message.tensors)
        cfg = run.config.training
        result = train_local(
            run.model,
            run.x,
            run.y,
            cfg,
            seed=cfg.seed * 100_003 + rnd * 101 + run.partition,
            prox_mu=float(message.body.get("prox_mu", 0.0)),
        )
        self.hub.publish(
            run.address.topic(self.device_id, "model/up"),
            Message(
                MessageType.MODEL_UP,
                run_id=run.address.run_id,
                round=rnd,
                body={"num_samples": result.num_samples},
                tensors=result.weights,
            ),
        )
        values = {
            "train_loss": result.loss,
            "train_accuracy": result.accuracy,
            "num_samples": result.num_samples,
        }
        self.hub.publish(
            run.address.topic(self.device_id, "metrics"),
            Message(
                MessageType.METRICS,
                run_id=run.address.run_id,
                round=rnd,
                body={"node": self.device_id, "values": values},
            ),
        )
        self.say(
            run,
            "INFO",
            f"round {rnd}: trained on {result.num_samples} samples, "
            f"loss {result.loss:.4f}, accuracy {result.accuracy:.3f}",
        )

    def _leave(self, run_id: int | None) -> None:
        run = self._runs.pop(run_id, None) if run_id is not None else None
        if run is None:
            return
        for sub in run.subs:
            self.hub.unsubscribe(sub)
        self.say(run, "INFO", f"left run {run_id}")
        self._announce("TRAINING" if self._runs else "IDLE")
