"""How a run ends: after the last round no update brings the edges' evaluation of the last
aggregate, so the edges still in the run are asked for it alone; and the edges' evaluations
of a round, averaged by their samples, recorded beside the server's own figures."""

from __future__ import annotations

import queue
import threading
import time

from app.core.run.members import RunMembers
from app.core.run.model_delivery import ModelDelivery
from app.core.run.outbox import ServerOutbox
from app.core.run.spec import RunOutcome
from app.core.run.updates import evaluation, federated
from app.wire.messages import MessageType


def final_evaluation(
    rnd: int,
    weights,
    members: RunMembers,
    delivery: ModelDelivery,
    inbox: queue.Queue,
    timeout_s: float,
    stop: threading.Event,
) -> dict[str, dict[str, float]] | None:
    """Each edge's evaluation of round `rnd`'s aggregate; None if the run was stopped."""
    waiting = set(members.alive())
    if not waiting:
        return {}
    body = {"round": rnd + 1, "selected": sorted(waiting), "evaluate_only": True}
    delivery.send(rnd + 1, body, weights)
    deadline = time.monotonic() + timeout_s
    evals: dict[str, dict[str, float]] = {}
    while waiting - set(evals) - members.offline() and time.monotonic() < deadline:
        try:
            kind, message = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if stop.is_set():
            return None
        if delivery.is_relay_request(message) and message.sender in waiting - set(evals):
            delivery.relay(rnd + 1, message, body, weights)
            continue
        if (
            kind in ("offline", "stop")
            or message.type != MessageType.MODEL_UP
            or message.round != rnd + 1
            or message.sender not in waiting
            or not message.body.get("evaluate_only")
        ):
            continue
        # nothing to evaluate on (no validation split): it is done all the same
        evals[message.sender] = evaluation(message.body.get("eval")) or {}
    return {node: e for node, e in evals.items() if e}


def record_federated(
    out: ServerOutbox, rnd: int, evals, outcome: RunOutcome, headline: bool
) -> None:
    """The edges' evaluations of round `rnd`'s aggregate, averaged by their samples.
    `headline`: no server-side test set, so the edges' view is the run's accuracy."""
    values = federated(evals)
    if not values:
        return
    out.metrics(rnd, values)
    for entry in outcome.history:
        if entry["round"] == rnd:
            entry.update(values)
    if headline:
        outcome.test_accuracy = values.get("fed_val_accuracy", outcome.test_accuracy)
