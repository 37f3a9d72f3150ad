"""A server-free run, as the control center keeps it: no model passes through it while the
run runs.

It invites the edges (each told the trust graph), tells those that joined to BEGIN, and
from then on only listens: each edge's round figures and model sketch, its leaving or going
offline, and at the end each edge's last model, stored with their weighted mean as the run's
aggregate (what export and Compare read). It writes what a run's server would for the window,
the CLI and Compare: per round, the mean of the edges' test accuracy and loss, their spread
(min, max, standard deviation) and the consensus distance (core/peer/consensus); the run's
log says who left and whom that leaves. It ends FINISHED when every edge still in has run
every round, FAILED when fewer than `min_clients` remain, STOPPED when asked.
"""

from __future__ import annotations

import logging
import queue
import statistics
import time

import numpy as np

from app.core.artifacts import ArtifactNotWritten
from app.core.peer.consensus import consensus_distance
from app.core.peer.graph import TrustGraph, device_graph
from app.core.peer.node import BEGIN, DONE, PEER_LEFT
from app.core.run.coordinator import RunCoordinator
from app.core.run.joining import invite_edges
from app.core.run.protocol import FAILED, FINISHED, JOINED, RUNNING, STOP, STOPPED
from app.core.run.spec import RunOutcome, RunSpec
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class PeerRun(RunCoordinator):
    def __init__(self, hub: Hub, spec: RunSpec) -> None:
        super().__init__(hub, spec)
        self.graph: TrustGraph  # built when served: a graph that cannot be fails the run
        self._reports: dict[int, dict[str, Message]] = {}
        self._in: set[str] = set()  # edges still in the run
        self._done: set[str] = set()
        self._recorded = 0
        self.history: list[dict] = []
        self._samples: dict[str, int] = {}  # each edge's training samples, as it joined
        self._final: tuple[dict, float] | None = None  # Σ w·model, Σ w of the last models

    def shown(self, node: str) -> str:
        return self.members.shown(node)

    # -- the run ----------------------------------------------------------------------------
    def serve(self) -> RunOutcome:
        subs = [
            self.hub.subscribe(self.run.pattern("+", "metrics"), self._on_message),
            self.hub.subscribe(self.run.pattern("+", "model/up"), self._on_message),
            self.hub.subscribe(self.run.pattern("+", "status"), self._on_status),
            self.hub.subscribe(topics.edge_pattern("+", "status"), self.liveness.on_edge_status),
            self.hub.subscribe(self.run.center_control, self._on_control),
        ]
        try:
            outcome = self._serve()
        except Exception as exc:
            log.exception("run %s", self.spec.job_id)
            outcome = RunOutcome(FAILED, self._recorded, str(exc), history=self.history)
        finally:
            if self._in:  # ended early: the edges still in leave
                self._tell({"action": STOP})
        if outcome.state == FAILED:
            self.say("ERROR", f"run failed: {outcome.reason}")
        self.out.status(
            outcome.state,
            outcome.rounds_done,
            reason=outcome.reason,
            test_accuracy=outcome.test_accuracy,
        )
        for sub in subs:
            self.hub.unsubscribe(sub)
        self.hub.flush(30)  # the models' records and the end, before the hub is closed
        return outcome

    def _on_status(self, topic: str, message: Message) -> None:
        self.liveness.on_run_status(topic, message)
        samples = message.body.get("samples")
        if message.body.get("state") == JOINED and isinstance(samples, int) and samples >= 0:
            self._samples[message.sender] = samples

    def _serve(self) -> RunOutcome:
        cfg = self.config
        names = {self.spec.edge_names.get(d, d): d for d in self.spec.edges}
        self.graph = device_graph(cfg.decentralized, names)
        self.out.status(RUNNING, 0)
        self.say("INFO", f"{self.config.algorithm.name} without a server: {self._describe()}")

        peers = {
            "graph": self.graph.as_dict(),
            "names": {n: self.shown(n) for n in self.graph.nodes},
        }
        if self.spec.direct is not None:  # big models go edge to edge beside the hub
            peers["direct"] = {"min_bytes": self.spec.direct.min_bytes, "tls": self.spec.direct.tls}
        invited = invite_edges(
            self.hub, self.spec, self.members, self._stop, self.say, lambda _e: {"peers": peers}
        )
        if not invited:
            return RunOutcome(STOPPED, 0, "stopped before the first round")
        self._in = set(self.members.alive())
        missing = [n for n in self.graph.nodes if n not in self._in]
        if missing:
            self.graph = self.graph.without(missing)
            self._check_connected("without " + ", ".join(map(self.shown, missing)))
        mean = statistics.fmean(self._samples.get(n, 0) for n in self._in)
        self._tell({"action": BEGIN, "members": sorted(self._in), "mean_samples": mean})
        quiet_s = cfg.training.round_timeout_s + cfg.decentralized.peer_timeout_s
        last_news = time.monotonic()
        while self._in - self._done:
            try:
                topic, message = self._inbox.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() - last_news > quiet_s:
                    waiting = ", ".join(map(self.shown, sorted(self._in - self._done)))
                    return self._ended(FAILED, f"no edge reported for {quiet_s:g} s ({waiting})")
                continue
            last_news = time.monotonic()
            if topic == "stop":
                return self._ended(STOPPED, "stopped by the operator")
            if topic == "offline" or message.body.get("state") == FAILED:
                self._lose(message.sender, message)
            elif message.type == MessageType.MODEL_UP and message.sender in self._in:
                if message.body.get(DONE):
                    self._keep_final(message.sender, message)
                    self._done.add(message.sender)
            elif message.type == MessageType.METRICS and message.sender in self._in:
                self._reports.setdefault(int(message.round or 0), {})[message.sender] = message
            self._record_rounds()
            if len(self._in) < cfg.training.min_clients:
                return self._ended(
                    FAILED,
                    f"only {len(self._in)} edges left; min_clients is {cfg.training.min_clients}",
                )
        last = self.history[-1] if self.history else {}
        if self._final is not None:
            total, weight = self._final
            self._store("aggregate", {k: (v / weight).astype("float32") for k, v in total.items()})
        return self._ended(FINISHED, "", last.get("test_accuracy"))

    def _keep_final(self, node: str, message: Message) -> None:
        """An edge's last model: stored, and added into the run's aggregate, weighted as
        push-sum weighs it (its sum of weights times the model is the edges' total)."""
        weight, tensors = message.body.get("weight"), message.tensors
        try:
            if not isinstance(weight, int | float) or not 0 < weight < float("inf"):
                raise ValueError(f"weight {weight!r}")
            if self._final is not None and {k: v.shape for k, v in tensors.items()} != {
                k: v.shape for k, v in self._final[0].items()
            }:
                raise ValueError("other tensors than the other edges' models")
            if not all(np.isfinite(v).all() for v in tensors.values()):
                raise ValueError("values that are not finite")
        except ValueError as exc:
            self.say("WARNING", f"{self.shown(node)}'s last model is not kept: {exc}")
            return
        self._store(node, tensors)
        total, summed = self._final or ({k: np.zeros(v.shape) for k, v in tensors.items()}, 0.0)
        for k, v in tensors.items():
            total[k] += v.astype(np.float64) * weight
        self._final = total, summed + float(weight)

    def _store(self, node: str, weights: dict) -> None:
        try:
            self.out.store(self.config.training.rounds, node, weights)
        except ArtifactNotWritten as exc:
            self.say("ERROR", str(exc))

    def _ended(self, state: str, reason: str, accuracy: float | None = None) -> RunOutcome:
        return RunOutcome(state, self._recorded, reason, accuracy, history=self.history)

    def _lose(self, node: str, message: Message) -> None:
        if node not in self._in or node in self._done:
            return
        self._in.discard(node)
        reason = str(message.body.get("reason") or "went offline")[:300]
        into, out = self.graph.into(node), self.graph.out(node)
        self.graph = self.graph.without([node])
        self._tell({"action": PEER_LEFT, "node": node, "reason": reason})
        self.say(
            "WARNING",
            f"{self.shown(node)} left the run after round {self._recorded} ({reason}); "
            f"{len(self._in)} edges go on without it: "
            f"its in-neighbours ({', '.join(map(self.shown, into)) or 'none'}) no longer send "
            f"to it, its out-neighbours ({', '.join(map(self.shown, out)) or 'none'}) no "
            "longer wait for it",
        )
        self._check_connected(f"without {self.shown(node)}", fatal=False)

    def _record_rounds(self) -> None:
        """Each round every edge still in has reported, in order, as the run's figures."""
        while True:
            rnd = self._recorded + 1
            reports = {n: m for n, m in self._reports.get(rnd, {}).items() if n in self._in}
            if not reports or set(reports) != self._in:
                return
            self._reports.pop(rnd, None)
            values = self._round_figures(reports)
            self.out.metrics(rnd, values)
            self._recorded = self.liveness.round_now = rnd
            self.history.append({"round": rnd, **values})
            self.out.status(RUNNING, rnd, test_accuracy=values.get("test_accuracy"))

    def _round_figures(self, reports: dict[str, Message]) -> dict[str, float]:
        accuracy = [
            float(m.body["values"]["test_accuracy"])
            for m in reports.values()
            if "test_accuracy" in m.body.get("values", {})
        ]
        loss = [
            float(m.body["values"]["test_loss"])
            for m in reports.values()
            if "test_loss" in m.body.get("values", {})
        ]
        values: dict[str, float] = {
            "edges_reporting": float(len(reports)),
            # what reached the edges: every model share pushed along a link
            "bytes_per_round": sum(
                float(m.body["values"].get("bytes_out", 0.0)) for m in reports.values()
            ),
        }
        if accuracy:
            values |= {
                "test_accuracy": statistics.fmean(accuracy),
                "accuracy_min": min(accuracy),
                "accuracy_max": max(accuracy),
                "accuracy_std": statistics.pstdev(accuracy),
            }
        if loss:
            values["test_loss"] = statistics.fmean(loss)
        sketches = [m.body.get("sketch") for m in reports.values()]
        sizes = {m.body.get("size") for m in reports.values()}
        if len(sketches) >= 2 and len(sizes) == 1:
            try:
                values["consensus_distance"] = consensus_distance(sketches, int(sizes.pop()))
            except (ValueError, TypeError) as exc:
                self.say("WARNING", f"no consensus distance this round: {exc}")
        return values

    def _check_connected(self, when: str, fatal: bool = True) -> None:
        if not self.graph.unreached():
            return
        text = (
            f"the trust graph {when} is not strongly connected: "
            f"{self._named(self.graph).why_apart()}"
        )
        if fatal:
            raise RuntimeError(text)
        self.say("WARNING", text + "; each part goes on agreeing within itself")

    def _tell(self, body: dict) -> None:
        self.hub.publish(
            self.run.topic(topics.SERVER, "control"),
            Message(MessageType.CONTROL, job_id=self.spec.job_id, body=body),
        )

    def _named(self, graph: TrustGraph) -> TrustGraph:
        """The graph with the edges' names for their device ids, as people read it."""
        return TrustGraph(
            tuple(map(self.shown, graph.nodes)),
            frozenset((self.shown(a), self.shown(b)) for a, b in graph.links),
            tuple(map(self.shown, graph.ring)),
            graph.hops,
        )

    def _describe(self) -> str:
        spec = self.config.decentralized
        extra = f" + {spec.random_links} random links" if spec.random_links else ""
        extra += " (one-peer: one out-neighbour a round, in turn)" if self.graph.hops else ""
        lines = "; ".join(
            f"{self.shown(n)} → {', '.join(map(self.shown, self.graph.out(n)))}"
            for n in self.graph.nodes
        )
        return (
            f"{spec.graph}{extra} trust graph over {len(self.graph.nodes)} edges, "
            f"{len(self.graph.links)} links: {lines}"
        )
