"""An edge's side of a server-free run: train, push shares to the out-neighbours, mix.

Round r on every edge: train the model on this device's data; push a share (model and
weight, as the algorithm's rule makes them) to each out-neighbour's inbox and keep one;
wait for round r's share of every in-neighbour (`peer_timeout_s` at most); mix; evaluate
the mixed model on the task's test split; report the figures and a sketch of the model
(core/peer/consensus) to the control center. After the last round the edge sends the
control center its model, for the run's record; no model reaches it before.

An in-neighbour that sends nothing in time, or that the control center says has left, is
mixed without from then on; an out-neighbour that left is sent nothing (so push-sum loses
no weight to it). The rounds run on a thread of their own, the hub's dispatch thread only
queues what arrives.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from app.core.algorithms import ALGORITHMS
from app.core.algorithms.push_sum import Share
from app.core.peer.consensus import sketch
from app.core.peer.direct import PeerDirect
from app.core.peer.graph import TrustGraph
from app.core.run.direct_models import describe, fetch_model
from app.core.run.protocol import finite_figures
from app.wire import topics
from app.wire.direct import DirectFailed
from app.wire.messages import Message, MessageType

BEGIN, PEER_LEFT = "begin", "peer_left"  # the control center's words to a run's edges
DONE = "final"  # an edge's last model, sent when it has run every round


class PeerNode:
    def __init__(
        self,
        hub,
        run,  # core.edge_runs.EdgeRun, prepared
        me: str,
        invitation: dict,
        say: Callable[[str, str], None],
        progress: Callable[[float], None],
    ) -> None:
        self.hub, self.run, self.me, self.say, self.progress = hub, run, me, say, progress
        peers = invitation.get("peers")
        if not isinstance(peers, dict):
            raise ValueError("the join request of a server-free run names no trust graph")
        self.graph = TrustGraph.from_dict(peers.get("graph"))
        if me not in self.graph.nodes:
            raise ValueError("this edge is not in the run's trust graph")
        self.names = {str(k): str(v) for k, v in dict(peers.get("names", {})).items()}
        direct = peers.get("direct")
        self.direct = PeerDirect(hub, direct) if isinstance(direct, dict) else None
        self.rule = ALGORITHMS[run.config.algorithm.name].build(run.config.algorithm)
        self.mean_samples = float(run.samples)  # the run's, as BEGIN says
        self._queue: queue.Queue = queue.Queue()
        self._held: dict[int, dict[str, Message]] = {}  # shares of rounds still ahead
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"peer-{me}", daemon=True)

    def shown(self, node: str) -> str:
        return self.names.get(node, node)

    # -- hub's dispatch thread --------------------------------------------------------------
    def subscriptions(self) -> list[tuple[str, Callable]]:
        p, j = self.run.address.project, self.run.address.job_id
        senders = self.graph.into(self.me)  # in any round
        return [(topics.inbox_topic(p, j, self.me, sender), self._on_share) for sender in senders]

    def _on_share(self, topic: str, message: Message) -> None:
        self._queue.put(("share", topic.rsplit("/", 1)[-1], message))

    # -- edge's worker thread ---------------------------------------------------------------
    def on_message(self, message: Message) -> None:
        body = message.body
        action = body.get("action")
        if action == BEGIN and not self._thread.is_alive():
            members = {str(m) for m in body.get("members", [])}
            mean = body.get("mean_samples")
            if isinstance(mean, int | float) and mean > 0:
                self.mean_samples = float(mean)
            self._forget([p for p in self.graph.nodes if p not in members], "did not join")
            self._thread.start()
        elif action == PEER_LEFT:
            self._queue.put(("left", str(body.get("node", "")), body.get("reason", "left")))

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(("stop", "", None))
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if self.direct is not None:
            self.direct.close()

    # -- the rounds -------------------------------------------------------------------------
    def _forget(self, nodes: list[str], why: str, rnd: int = 0) -> None:
        gone = [n for n in nodes if n in self.graph.nodes and n != self.me]
        if not gone:
            return
        self.graph = self.graph.without(gone)
        outs, ins = self.graph.out(self.me), self.graph.into(self.me)
        when = f"round {rnd}: " if rnd else ""
        self.say(
            "WARNING",
            f"{when}{', '.join(map(self.shown, gone))} {why}; from now on this edge sends to "
            f"{', '.join(map(self.shown, outs)) or 'no one'} and mixes what "
            f"{', '.join(map(self.shown, ins)) or 'no one'} send"
            + (" (one a round)" if self.graph.hops else ""),
        )

    def _main(self) -> None:
        try:
            self._rounds()
        except Exception as exc:  # said, and the control center takes this edge out
            if not self._stop.is_set():
                self.say("ERROR", f"{type(exc).__name__}: {exc}")
                self._status("FAILED", reason=f"{type(exc).__name__}: {exc}")

    def _rounds(self) -> None:
        import torch

        from app.core.models import get_weights, set_weights
        from app.core.tasks.runtime import TaskContext

        run, cfg = self.run, self.run.config.training
        torch.manual_seed(cfg.seed)  # every edge starts from the same model
        run.model = run.task.build_model(run.task_config)
        test = run.task.load_test_data(run.task_config)
        test = test if test is not None else run.validation
        weight = self.mean_samples  # every node's at first: its samples weigh its steps
        for rnd in range(1, cfg.rounds + 1):
            ctx = TaskContext(
                device=run.device,
                round=rnd,
                training=cfg,
                seed=cfg.edge_seed(rnd, run.partition),
                logger=run.logger,
                progress=self.progress,
            )
            start = get_weights(run.model)
            trained = run.task.train(run.model, run.train_data, run.task_config, ctx)
            own, pushed = self._push(rnd, start, get_weights(run.model), weight)
            shares = self._collect(rnd, own)
            if shares is None:
                return  # stopped
            mixed, weight = self.rule.mix([own, *shares])
            set_weights(run.model, mixed)
            evaluated = run.task.evaluate(run.model, test, run.task_config, ctx)
            self._report(
                rnd, mixed, weight, len(shares), {**trained, "bytes_out": pushed}, evaluated
            )
        self.hub.publish(  # the end: this edge's model goes to the run's record
            self.run.address.topic(self.me, "model/up"),
            Message(
                MessageType.MODEL_UP,
                job_id=self.run.address.job_id,
                round=cfg.rounds,
                body={DONE: True, "weight": weight},
                tensors={k: v.astype(np.float32) for k, v in get_weights(run.model).items()},
            ),
        )
        self.say("INFO", f"ran all {cfg.rounds} rounds")

    def _push(self, rnd: int, start, trained, weight: float) -> tuple[Share, float]:
        """This edge's share kept, and the bytes of those pushed."""
        outs = self.graph.peers_in_round(self.me, rnd)[0]
        # its change counts as its samples do against the run's mean, as in FedAvg's mean
        step = weight * self.run.samples / self.mean_samples
        share = self.rule.share(start, trained, weight, step, len(outs))
        tensors = {k: v.astype(np.float32) for k, v in share.scaled.items()}
        p, j = self.run.address.project, self.run.address.job_id
        offers = self.direct.offer(rnd, tensors, len(outs)) if self.direct else None
        for i, to in enumerate(outs):
            body = {"weight": share.weight, **({"direct": offers[i]} if offers else {})}
            message = Message(
                MessageType.PEER_MODEL,
                job_id=j,
                round=rnd,
                body=body,
                tensors={} if offers else tensors,
            )
            self.hub.publish(topics.inbox_topic(p, j, to, self.me), message)
        return share, float(sum(v.nbytes for v in tensors.values()) * len(outs))

    def _collect(self, rnd: int, own: Share) -> list[Share] | None:
        """Round rnd's share from every in-neighbour still in the run; None if stopped."""
        got: dict[str, Message] = self._held.pop(rnd, {})
        timeout = self.run.config.decentralized.peer_timeout_s
        deadline = time.monotonic() + timeout

        def waited() -> list[str]:  # those still in the run, this round's only
            return self.graph.peers_in_round(self.me, rnd)[1]

        while not all(n in got for n in waited()):
            left = deadline - time.monotonic()
            if left <= 0:
                late = [n for n in waited() if n not in got]
                self._forget(late, f"sent no model within {timeout:g} s", rnd)
                break
            try:
                kind, node, item = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if kind == "stop" or self._stop.is_set():
                return None
            if kind == "left":
                self._forget([node], f"left the run ({item})", rnd)
            elif kind == "share" and node in self.graph.nodes:
                their = int(item.round or 0)
                if their == rnd:
                    got[node] = item
                elif their > rnd:  # a faster neighbour: kept for its round
                    self._held.setdefault(their, {})[node] = item
        shares = [self._share_of(node, got[node], rnd, own) for node in waited() if node in got]
        return [s for s in shares if s is not None]

    def _share_of(self, node: str, message: Message, rnd: int, own: Share) -> Share | None:
        """A neighbour's share as it came, or fetched from it beside the hub, checked
        against this edge's own; None if it cannot be had or is not a share of this run's
        model (this round mixes without it, and the log says why)."""
        weight, offered = message.body.get("weight"), message.body.get("direct")
        try:
            if offered is not None and not message.tensors:
                where = describe(offered)
                try:
                    message = dataclasses.replace(message, tensors=fetch_model(offered))
                except DirectFailed as exc:
                    raise ValueError(f"could not be fetched from {where} ({exc})") from None
            if not isinstance(weight, int | float) or not weight > 0 or not np.isfinite(weight):
                raise ValueError(f"came with weight {weight!r}")
            shapes = {k: v.shape for k, v in message.tensors.items()}
            if shapes != {k: v.shape for k, v in own.scaled.items()}:
                raise ValueError("has other tensors or shapes than this edge's model")
            if not all(np.isfinite(v).all() for v in message.tensors.values()):
                raise ValueError("has values that are not finite")
        except ValueError as exc:
            self.say(
                "WARNING", f"round {rnd}: the model of {self.shown(node)} {exc}; mixing without it"
            )
            return None
        return Share(dict(message.tensors), float(weight))

    def _report(self, rnd, mixed, weight, heard: int, trained: dict, evaluated: dict) -> None:
        values, _ = finite_figures(
            {
                **{f"test_{k}": v for k, v in evaluated.items()},
                **trained,
                "mixing_weight": weight,
                "in_neighbours": float(heard),
            }
        )
        figures, size = sketch(mixed, self.run.config.training.seed)
        self.hub.publish(
            self.run.address.topic(self.me, "metrics"),
            Message(
                MessageType.METRICS,
                job_id=self.run.address.job_id,
                round=rnd,
                body={"node": self.me, "values": values, "sketch": figures, "size": size},
            ),
        )
        shown = ", ".join(f"{k} {v:.4f}" for k, v in evaluated.items())
        self.say("INFO", f"round {rnd}: mixed with {heard} in-neighbours; {shown}")

    def _status(self, state: str, **extra) -> None:
        self.hub.publish(
            self.run.address.topic(self.me, "status"),
            Message(
                MessageType.STATUS,
                job_id=self.run.address.job_id,
                body={"state": state, "name": self.shown(self.me), **extra},
            ),
        )
