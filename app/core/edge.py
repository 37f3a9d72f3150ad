"""The edge agent: announces itself, heartbeats its load, joins runs, trains, uploads.

A run's task comes with its invitation: built-in tasks from this install, shipped ones
only if the agent's operator trusts the signing center (`trust_center`). The task reads
this device's own data (`data`: key → folder); only sample counts leave the device.
Whatever the agent will not or cannot do is answered with REFUSED and the reason; a task
that raises mid-run is reported FAILED; the agent itself keeps running, unless the hub
refuses it for good (a revoked token): then `wait()` returns and `fatal_error` says why.

Threads: the hub's dispatch thread only queues work; training runs on the agent's worker
thread (so a long epoch never delays messages); the heartbeat has its own thread
(`core/edge_presence`, what the agent says of itself).
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
from pathlib import Path

from app.core.edge_presence import EdgePresence
from app.core.edge_runs import EdgeRun, joined_status, prepare_run
from app.core.edge_update import arm, update_message
from app.core.protocols import load, protocol_of
from app.core.run.direct_models import RELAY, describe, fetch_model, push_update
from app.core.run.protocol import (
    FAILED,
    JOIN,
    LEAVE,
    REFUSED,
    STOP,
    RunAddress,
    finite_figures,
    log_message,
)
from app.errors import FedDeckError
from app.wire import topics
from app.wire.direct import DirectFailed
from app.wire.hub import Hub, HubState
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class EdgeAgent:
    def __init__(
        self,
        hub: Hub,
        device_id: str,
        name: str = "",
        heartbeat_s: float = 2.0,
        *,
        data: dict[str, Path] | None = None,
        trust_center: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.hub, self.device_id, self.name = hub, device_id, name or device_id
        self.data = dict(data or {})
        self.trust_center = trust_center
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / f"feddeck-tasks-{os.getuid()}"
        self._work: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._runs: dict[int, EdgeRun] = {}
        self._progress: dict[int, float] = {}
        self.presence = EdgePresence(
            hub, device_id, self.name, sorted(self.data), heartbeat_s, self._stop, self._runs,
            self._progress,
        )  # fmt: skip
        self.fatal_error: str | None = None
        self._worker_thread = threading.Thread(target=self._worker, name="edge-worker", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.hub.subscribe(topics.edge_topic(self.device_id, "control"), self._on_control)
        self.hub.on_state(self._on_hub_state)
        if self.hub.state != HubState.CONNECTED:
            self.hub.connect(timeout=30)
        self.presence.announce("IDLE")
        self.presence.start_heartbeat()
        self._worker_thread.start()
        # Torch's first-use costs now, not in the first run: seconds on a small device.
        self._work.put(("warmup", None))

    def stop(self) -> None:
        """Prompt in every state: an epoch in progress gets a few seconds to end (its
        thread is a daemon), and a hub that is gone is not waited for."""
        self._stop.set()
        self._work.put(None)
        if self._worker_thread.is_alive():
            self._worker_thread.join(timeout=5)
        if self.hub.state == HubState.CONNECTED:
            self.presence.announce("OFFLINE")
            self.hub.flush(5)

    def request_stop(self) -> None:
        """Safe from a signal handler: `wait()` returns, the caller then calls `stop()`."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout)

    def _on_hub_state(self, state: HubState) -> None:
        if state == HubState.CONNECTED:
            # Seen again after a reconnect; a server waiting on this edge sends it the round
            # again, since a broker that restarted drops what it had not delivered.
            self.presence.announce("TRAINING" if self._runs else "IDLE", reconnected=True)
        elif state == HubState.DISCONNECTED and getattr(self.hub, "fatal_error", None):
            self.fatal_error = self.hub.fatal_error
            self._stop.set()

    def say(self, run: EdgeRun | None, level: str, text: str) -> None:
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
                import torch

                from app.core.warmup import warm_up

                torch.set_num_threads(1)  # as each run's training does (prepare_run)
                warm_up()
                continue
            try:
                if kind == "control":
                    self._handle_control(message)
                elif message.type == MessageType.MODEL_DOWN:
                    self._train(message)
                elif message.type == MessageType.CONTROL:
                    self._run_control(message)
            except Exception as exc:
                if self._stop.is_set():
                    return  # shutting down: the hub may already be closed
                log.exception("edge %s failed to handle %s", self.name, message.type)
                self.say(self._runs.get(message.job_id), "ERROR", f"{type(exc).__name__}: {exc}")

    def _handle_control(self, message: Message) -> None:
        body = message.body
        run = self._runs.get(message.job_id)
        if run is not None and run.trainer is not None and body.get("action") != JOIN:
            self._run_control(message)  # a protocol's words to this edge alone
        elif message.type == MessageType.MODEL_DOWN:  # this edge's own offer, or a relay
            self._train(message)
        elif body.get("action") == JOIN:
            self._join(message)
        elif body.get("action") in (LEAVE, STOP):
            self._leave(body.get("job_id"))

    def _run_control(self, message: Message) -> None:
        run = self._runs.get(message.job_id)
        if message.body.get("action") in (LEAVE, STOP):
            self._leave(message.job_id)
        elif run is not None and run.trainer is not None:  # a protocol's own words
            run.trainer.on_message(message)

    def _join(self, message: Message) -> None:
        from app.core.fl_config import parse_config

        body = message.body
        job_id, parts, index = body.get("job_id"), body.get("num_partitions"), body.get("partition")
        if not all(isinstance(v, int) for v in (job_id, parts, index)) or not 0 <= index < parts:
            raise ValueError(f"malformed join request: {body}")
        if job_id in self._runs:  # a restarted server invites again: start afresh
            self._leave(job_id)
        address = RunAddress(str(body["project"]), job_id)
        try:
            run = EdgeRun(address, parse_config(body["config"]), index, parts)
            log_to = lambda level, text, run=run: self.say(run, level, text)  # noqa: E731
            prepare_run(
                run,
                body.get("task"),
                message.tensors.get("task_archive"),
                self.data,
                self.trust_center,
                self.cache_dir,
                log_to=log_to,
                logger_name=f"feddeck.task.{self.device_id}.{job_id}",
            )
            trainer = protocol_of(run.config.algorithm.name).trainer
            if trainer is not None:  # a protocol whose rounds are its own (core/protocols)
                progress = lambda f, j=job_id: self._progress.__setitem__(j, float(f))  # noqa: E731
                run.trainer = load(trainer)(self.hub, run, self.device_id, body, log_to, progress)
                run.subs = [self.hub.subscribe(t, h) for t, h in run.trainer.subscriptions()]
        except Exception as exc:
            reason = str(exc) if isinstance(exc, FedDeckError) else f"{type(exc).__name__}: {exc}"
            self._refuse(address, reason)
            return
        run.subs += [
            self.hub.subscribe(run.address.model_down, self._on_run_message),
            self.hub.subscribe(run.address.server_control, self._on_run_message),
        ]
        self._runs[job_id] = run
        self.presence.announce("TRAINING")
        log_to(
            "INFO",
            f"joined run {job_id} ({run.task.name}): {run.samples} training and "
            f"{run.validation_samples} validation samples, on {run.device}"
            + (f"; labels {run.labels}" if run.labels else ""),
        )
        for line in arm(run, self.device_id):
            log_to("INFO", line)
        self.hub.publish(
            run.address.topic(self.device_id, "status"),
            Message(MessageType.STATUS, job_id=job_id, body=joined_status(run, self.name)),
        )

    def _refuse(self, address: RunAddress, reason: str, state: str = REFUSED) -> None:
        log.error("%s: run %s %s: %s", self.name, address.job_id, state, reason)
        self.hub.publish(
            address.topic(self.device_id, "logs"), log_message(address, "ERROR", reason)
        )
        self.hub.publish(
            address.topic(self.device_id, "status"),
            Message(
                MessageType.STATUS,
                job_id=address.job_id,
                body={"state": state, "reason": reason, "name": self.name},
            ),
        )

    def _train(self, message: Message) -> None:
        run = self._runs.get(message.job_id)
        if run is not None and message.body.get("unmask"):
            self._unmask(run, message)
            return
        if run is None or self.device_id not in message.body.get("selected", []):
            return
        try:
            self._train_round(run, message)
        except Exception as exc:
            from app.core.tasks.runtime import TaskFailed

            if not isinstance(exc, TaskFailed | ValueError):
                raise
            self._refuse(run.address, str(exc), state=FAILED)
            self._leave(run.address.job_id)

    def _train_round(self, run: EdgeRun, message: Message) -> None:
        from app.core.models import get_weights, set_weights
        from app.core.tasks.runtime import TaskContext

        rnd = int(message.round or 0)
        evaluate_only = bool(message.body.get("evaluate_only"))
        direct = message.body.get("direct")
        if rnd <= run.last_round and not evaluate_only:
            if rnd == run.last_round and run.last_upload is not None:
                self._upload(run, run.last_upload, direct)
            return
        weights = self._model_of(run, rnd, message)
        if weights is None:
            return
        run.last_round = rnd
        protect = run.config.privacy.enabled  # DP needs the global model to clip against
        reference = {k: v.copy() for k, v in weights.items()} if protect else None
        set_weights(run.model, weights)
        del weights  # the model holds them now; a fetched buffer is let go
        cfg = run.config.training
        ctx = TaskContext(
            device=run.device,
            round=rnd,
            training=cfg,
            seed=cfg.edge_seed(rnd, run.partition),
            logger=run.logger,
            progress=lambda f: self._progress.__setitem__(run.address.job_id, float(f)),
            prox_mu=float(message.body.get("prox_mu", 0.0)),
        )
        # The model received is round rnd - 1's aggregate: evaluate that on this edge's
        # validation split (every eval_every rounds, and once more after the last round).
        evaluated = rnd - 1
        evaluation = None
        due = evaluate_only or (cfg.eval_every and evaluated % cfg.eval_every == 0)
        if cfg.eval_every and evaluated >= 1 and due and run.validation_samples:
            evaluation = run.task.evaluate(run.model, run.validation, run.task_config, ctx)
            evaluation["num_samples"] = run.validation_samples
            self._publish_metrics(
                run,
                evaluated,
                {f"val_{k}": v for k, v in evaluation.items() if k != "num_samples"},
            )
        if evaluate_only:
            self._send_up(
                run,
                MessageType.MODEL_UP,
                rnd,
                {"evaluate_only": True, "eval": finite_figures(evaluation or {})[0]},
            )
            return
        trained = run.task.train(run.model, run.train_data, run.task_config, ctx)
        self._progress.pop(run.address.job_id, None)
        run.last_upload = update_message(
            run, rnd, get_weights(run.model), reference, ctx.seed, message.body, evaluation,
            trained,
        )  # fmt: skip
        self._upload(run, run.last_upload, direct)
        self._publish_metrics(run, rnd, {**trained, "num_samples": run.samples})
        shown = ", ".join(f"{k} {v:.4f}" for k, v in trained.items())
        self.say(run, "INFO", f"round {rnd}: trained on {run.samples} samples, {shown}")

    def _unmask(self, run: EdgeRun, message: Message) -> None:
        """The server asks the round's survivors to take the masks off (secure
        aggregation): this edge's shares of their seeds and its keys with the dropouts."""
        body, rnd = message.body, int(message.round or 0)
        sealed = body.get("sealed")
        if run.secagg is None or not isinstance(sealed, dict) or self.device_id not in sealed:
            return
        try:
            answer = run.secagg.answer(rnd, body.get("secagg"), body.get("survivors"),
                                       sealed[self.device_id])  # fmt: skip
        except ValueError as exc:
            self.say(run, "WARNING", f"round {rnd}: not answering the unmasking: {exc}")
            return
        self._send_up(run, MessageType.MODEL_UP, rnd, {"unmask": True, **answer})

    def _model_of(self, run: EdgeRun, rnd: int, message: Message):
        """The round's model: as it came over the hub, or fetched directly as announced;
        None if the fetch failed (the model is then asked for over the hub)."""
        direct = message.body.get("direct")
        if direct is None or message.tensors:
            return message.tensors
        try:
            return fetch_model(direct)
        except DirectFailed as exc:
            self.say(
                run,
                "WARNING",
                f"round {rnd}: the direct download failed ({exc}); asking for the model "
                "over the hub",
            )
            self._send_up(run, MessageType.CONTROL, rnd, {"action": RELAY, "reason": str(exc)})
            return None

    def _send_up(self, run: EdgeRun, kind: MessageType, rnd: int, body: dict) -> None:
        self.hub.publish(
            run.address.topic(self.device_id, "model/up"),
            Message(kind, job_id=run.address.job_id, round=rnd, body=body),
        )

    def _upload(self, run: EdgeRun, update: Message, direct: object) -> None:
        """The update pushed directly when the server offered it (only its announcement
        goes over the hub), else, or if that fails, over the hub."""
        topic = run.address.topic(self.device_id, "model/up")
        if isinstance(direct, dict) and update.tensors:
            try:
                self.hub.publish(topic, push_update(direct, update))
                return
            except DirectFailed as exc:
                self.say(
                    run,
                    "WARNING",
                    f"round {update.round}: the direct upload to {describe(direct)} failed "
                    f"({exc}); sending the update over the hub",
                )
        self.hub.publish(topic, update)

    def _publish_metrics(self, run: EdgeRun, rnd: int, values: dict[str, float]) -> None:
        values, diverged = finite_figures(values)
        if diverged:
            shown = ", ".join(diverged)
            self.say(run, "WARNING", f"round {rnd}: {shown} not finite (diverged); not reported")
        self.hub.publish(
            run.address.topic(self.device_id, "metrics"),
            Message(
                MessageType.METRICS,
                job_id=run.address.job_id,
                round=rnd,
                body={"node": self.device_id, "values": values},
            ),
        )

    def _leave(self, job_id: int | None) -> None:
        run = self._runs.pop(job_id, None) if job_id is not None else None
        if run is None:
            return
        if run.trainer is not None:
            run.trainer.stop()
        for sub in run.subs:
            self.hub.unsubscribe(sub)
        if run.logger is not None:
            run.logger.handlers.clear()
        self._progress.pop(job_id, None)
        self.say(run, "INFO", f"left run {job_id}")
        self.presence.announce("TRAINING" if self._runs else "IDLE")
