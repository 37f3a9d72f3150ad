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
import time

import numpy as np

from app.core.algorithms import build_strategy
from app.core.algorithms.robust import aggregator_for, bound_update
from app.core.algorithms.sampling import sample_clients
from app.core.artifacts import ArtifactNotWritten, load_start_model
from app.core.run.coordinator import RunCoordinator, Stopped
from app.core.run.final_round import final_evaluation, record_federated
from app.core.run.joining import invite_edges
from app.core.run.model_delivery import ModelDelivery
from app.core.run.protocol import (
    FAILED,
    FINISHED,
    LEAVE,
    RUNNING,
    STOPPED,
    finite_figures,
)
from app.core.run.secure_round import SecureRounds
from app.core.run.spec import RunOutcome, RunSpec
from app.core.run.updates import evaluation, federated, shortfall, summary, update_problem
from app.errors import FedDeckError
from app.wire import topics
from app.wire.hub import Hub, HubState
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class FLServer(RunCoordinator):
    def __init__(self, hub: Hub, spec: RunSpec) -> None:
        super().__init__(hub, spec)
        self.delivery: ModelDelivery  # opened when the run is served (its listener)
        # One for every round (a running mean's sum keeps its pages mapped), or the robust
        # rule's held updates.
        self._running = aggregator_for(spec.config.algorithm)
        self._sample_rate, self._picked = 1.0, 0
        self._refused: dict[str, str] = {}  # this round's refused updates: node, why
        secure = spec.config.secure_aggregation
        self._secure = (
            SecureRounds(self.members, secure.max_dropout, spec.job_id, self.say)
            if secure.enabled
            else None
        )

    # -- hub handlers (dispatch thread) ---------------------------------------------------
    def _on_hub_state(self, state: HubState) -> None:
        """This server's own connection came back: what it sent while the hub was away
        (or a restarted broker dropped) may be lost, and so may an edge's reconnect news."""
        if state == HubState.CONNECTED and self.liveness.round_now:
            self._inbox.put(("resend", Message(MessageType.CONTROL)))

    # -- the run --------------------------------------------------------------------------
    def _load_task(self):
        """The run's task, imported here; its model, and its test set if it gives one."""
        from app.core.tasks.runtime import load_run_task

        try:
            task, config = load_run_task(self.spec)
            model = task.build_model(config)
            test_data = task.load_test_data(config)
        except FedDeckError as exc:  # refused or raised: the run fails with the reason
            raise RuntimeError(str(exc)) from exc
        return task, config, model, test_data

    def serve(self) -> RunOutcome:
        import torch

        from app.core.models import get_weights, set_weights
        from app.core.tasks.runtime import TaskContext, TaskFailed

        torch.manual_seed(self.config.training.seed)
        cfg = self.config
        strategy = build_strategy(cfg.algorithm)
        rng = np.random.default_rng(cfg.training.seed)
        first_round = 1
        outcome = RunOutcome(state=RUNNING, rounds_done=0)
        subs = [
            self.hub.subscribe(self.run.pattern("+", "model/up"), self._on_message),
            self.hub.subscribe(self.run.pattern("+", "status"), self.liveness.on_run_status),
            self.hub.subscribe(topics.edge_pattern("+", "status"), self.liveness.on_edge_status),
            self.hub.subscribe(self.run.center_control, self._on_control),
        ]
        self.hub.on_state(self._on_hub_state)
        self.delivery = ModelDelivery(
            self.hub, self.run, self.spec.direct, self.say, self.members.shown
        )
        try:
            task, config, model, test_data = self._load_task()
            weights = get_weights(model)
            if self.spec.resume:
                done = self.spec.resume.after_round
                weights = load_start_model(weights, self.spec.resume.model)
                # Server-side optimiser state (FedAdam & co.) restarts; FedAvg resumes exactly.
                first_round, outcome.rounds_done = done + 1, done
                rng = np.random.default_rng([cfg.training.seed, first_round])
                self.say("WARNING", f"server restarted: resuming after round {done}")
            elif self.spec.init_model:
                weights = load_start_model(weights, self.spec.init_model)
                self.say(
                    "INFO", f"starting from the aggregated model of {self.spec.init_model.origin}"
                )
            ledger = None
            if cfg.privacy.enabled:
                from app.core.privacy import PrivacyLedger

                ledger = PrivacyLedger(
                    cfg.privacy.noise_multiplier, cfg.privacy.delta, first_round - 1
                )
            if not invite_edges(self.hub, self.spec, self.members, self._stop, self.say):
                raise Stopped
            self.out.status(RUNNING, first_round - 1)
            model_bytes = sum(int(w.nbytes) for w in weights.values())
            for rnd in range(first_round, cfg.training.rounds + 1):
                before = (self.hub.stats.bytes_in, self.hub.stats.bytes_out)
                direct_before = self.delivery.direct_bytes()
                weights, evals = self._round(rnd, weights, strategy, rng)
                stored = self.out.store(rnd, "aggregate", weights)
                self.delivery.stored(rnd + 1, weights, stored)  # the next round's model
                # What crossed the hub to and from this server in the round: the model down
                # (once: the hub fans it out), each update up, and small messages.
                values = {
                    "hub_bytes_in": float(self.hub.stats.bytes_in - before[0]),
                    "hub_bytes_out": float(self.hub.stats.bytes_out - before[1]),
                    "model_bytes": float(model_bytes),
                }
                if self.delivery.goes_direct(weights):  # and what went beside the hub
                    sent, received = self.delivery.direct_bytes()
                    values["direct_bytes_in"] = float(received - direct_before[1])
                    values["direct_bytes_out"] = float(sent - direct_before[0])
                # what reached the nodes: the model, to each edge picked; what came back
                up = values["hub_bytes_in"] + values.get("direct_bytes_in", 0.0)
                values["bytes_per_round"] = float(model_bytes * self._picked) + up
                if ledger is not None:
                    values["dp_epsilon"] = ledger.round_done(self._sample_rate)
                if test_data is not None:
                    set_weights(model, weights)
                    ctx = TaskContext(
                        torch.device("cpu"), rnd, cfg.training, cfg.training.seed, log
                    )
                    tested = task.evaluate(model, test_data, config, ctx)
                    values.update({f"test_{k}": v for k, v in tested.items()})
                values, diverged = finite_figures(values)
                if diverged:
                    self.say(
                        "WARNING",
                        f"round {rnd}: {', '.join(diverged)} of the global model not finite "
                        "(it diverged); not recorded",
                    )
                self.out.metrics(rnd, values)
                outcome.rounds_done = rnd
                outcome.history.append({"round": rnd, **values})
                if test_data is not None:
                    outcome.test_accuracy = values.get("test_accuracy")
                if rnd > 1:  # the edges evaluated the aggregate they received: round rnd - 1's
                    record_federated(self.out, rnd - 1, evals, outcome, test_data is None)
                self.out.status(RUNNING, rnd, test_accuracy=outcome.test_accuracy)
                self.say("INFO", f"round {rnd}/{cfg.training.rounds}: {summary(values)}")
            if cfg.training.eval_every and outcome.rounds_done:
                final = final_evaluation(
                    outcome.rounds_done,
                    weights,
                    self.members,
                    self.delivery,
                    self._inbox,
                    cfg.training.round_timeout_s,
                    self._stop,
                )
                if final is None:
                    raise Stopped
                record_federated(self.out, outcome.rounds_done, final, outcome, test_data is None)
                if final:
                    fed = federated(final)
                    self.say(
                        "INFO",
                        f"the final model on the edges' validation splits: accuracy "
                        f"{fed.get('fed_val_accuracy', float('nan')):.4f} over "
                        f"{fed['fed_val_samples']:.0f} samples",
                    )
            outcome.state = FINISHED
        except Stopped:
            outcome.state, outcome.reason = STOPPED, "stopped by the operator"
            if self._failure:
                outcome.state, outcome.reason = FAILED, self._failure
        except (RuntimeError, TaskFailed, ArtifactNotWritten) as exc:
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
        self.delivery.close()
        return outcome

    def _round(self, rnd, weights, strategy, rng) -> dict[str, np.ndarray]:
        cfg = self.config.training
        self.liveness.round_now = rnd
        alive = self.members.alive()
        selected = sample_clients(alive, cfg.fraction_fit, cfg.min_clients, rng)
        self._picked = len(selected)
        self._sample_rate = len(selected) / max(len(alive), 1)  # for the privacy ledger
        if len(selected) < cfg.min_clients:
            raise RuntimeError(
                f"round {rnd}: only {len(selected)} edges left; min_clients is {cfg.min_clients}"
            )
        body = {"round": rnd, "selected": selected, "prox_mu": strategy.client_prox_mu}
        secure = self._secure.begin(rnd, selected, weights) if self._secure else None
        if secure is not None:
            body.update(secure.round_body())
        self.delivery.send(rnd, body, weights)
        running, evals = self._collect(rnd, set(selected), weights, body, secure)
        self.delivery.end_round(rnd)
        if len(running.nodes) < cfg.min_clients:
            taken = shortfall(selected, running.nodes, self._refused, self.members.shown)
            raise RuntimeError(f"round {rnd}: {taken}; min_clients is {cfg.min_clients}")
        if secure is not None:
            combined = self._secure.unmask(
                rnd,
                secure,
                lambda m: self.hub.publish(self.run.model_down, m),
                self._inbox,
                cfg.round_timeout_s,
                self._stop.is_set,
            )
            if self._stop.is_set():
                raise Stopped
            return strategy.apply(weights, combined), evals
        try:
            combined = running.mean()
        except ValueError as exc:  # a robust rule with too few updates for it
            raise RuntimeError(f"round {rnd}: {exc}") from None
        left_out = getattr(running, "left_out", [])
        if left_out:
            names = ", ".join(self.members.shown(n) for n in left_out)
            rule = self.config.algorithm.aggregation
            self.say("WARNING", f"round {rnd}: {rule} left out the updates of {names}")
        return strategy.apply(weights, combined), evals

    def _collect(self, rnd: int, waiting: set[str], reference, body: dict, secure=None):
        """The round's updates folded into their running mean as each arrives (each stored
        first, then let go), and each updater's evaluation of the global model. An edge
        that reconnects while its update is due may have missed the model (a broker that
        restarted drops what it had not delivered yet): it is sent the round again."""
        deadline = time.monotonic() + self.config.training.round_timeout_s
        updates: set[str] = set()
        running = self._running if secure is None else secure
        if secure is None:
            running.start()
        self._refused = {}
        evals: dict[str, dict[str, float]] = {}
        while waiting - updates - self.members.offline():
            left = deadline - time.monotonic()
            if left <= 0:
                late = sorted(waiting - updates - self.members.offline())
                self.members.went_offline(late)
                names = ", ".join(self.members.shown(n) for n in late)
                self.say(
                    "WARNING",
                    f"{names} missed the deadline ({self.config.training.round_timeout_s:g} s)"
                    f"{self.liveness.where()}",
                )
                break
            try:
                kind, message = self._inbox.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if self._stop.is_set():
                raise Stopped
            if kind == "resend":
                missing = sorted(waiting - updates - self.members.offline())
                if missing:
                    names = ", ".join(self.members.shown(n) for n in missing)
                    self.say(
                        "INFO", f"round {rnd}: back on the hub; sending the round again to {names}"
                    )
                    self.delivery.send(rnd, {**body, "selected": missing}, reference)
                continue
            if kind == "back":
                node = message.sender
                if node in waiting - updates - self.members.offline():
                    shown = self.members.shown(node)
                    self.say("INFO", f"round {rnd}: {shown} reconnected; sending the round again")
                    self.delivery.send(rnd, {**body, "selected": [node]}, reference)
                continue
            if self.delivery.is_relay_request(message):
                if message.sender in waiting - updates:
                    self.delivery.relay(rnd, message, body, reference)
                continue
            if kind in ("offline", "stop") or message.type != MessageType.MODEL_UP:
                continue
            if message.sender in updates:  # the round was sent again and both copies came
                shown = self.members.shown(message.sender)
                self.say("INFO", f"round {rnd}: a second update from {shown} was ignored")
                continue
            message = self.delivery.update(rnd, message, body, reference)
            if message is None:
                continue
            if secure is not None:
                problem = self._secure.problem(message, rnd, waiting, secure)
            else:
                problem = update_problem(message, self.spec.job_id, rnd, waiting, reference)
            if problem:
                shown = self.members.shown(message.sender)
                self.say("WARNING", f"round {rnd}: refused the update from {shown}: {problem}")
                self._refused[message.sender] = problem
                continue
            if secure is not None:  # masked: summed, never stored
                secure.add(message.sender, message)
                updates.add(message.sender)
                evals.update(self._evaluated(message))
                continue
            self.out.store(rnd, message.sender, message.tensors)
            tensors = message.tensors
            bound = self.config.algorithm.norm_bound
            if bound is not None:
                tensors, norm = bound_update(tensors, reference, bound)
                if norm > bound:
                    shown = self.members.shown(message.sender)
                    self.say(
                        "WARNING",
                        f"round {rnd}: the update of {shown} was scaled down by "
                        f"{bound / norm:.3g}: its change's norm {norm:.4g} is over "
                        f"algorithm.norm_bound {bound:g}",
                    )
            # the update's own buffer (decoded from the wire): the mean may go into it
            running.add(message.sender, tensors, int(message.body["num_samples"]), owned=True)
            updates.add(message.sender)
            evals.update(self._evaluated(message))
            del message  # its tensors are in the sum now
        return running, evals

    @staticmethod
    def _evaluated(message: Message) -> dict[str, dict[str, float]]:
        evaluated = evaluation(message.body.get("eval"))
        return {message.sender: evaluated} if evaluated else {}
