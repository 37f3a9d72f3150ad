"""How a run runs, by its algorithm's role: which coordinator serves it, what each edge runs
for it, and where the coordinator lives.

    server  a server sends the model, the edges train it, the server's strategy turns the
            clients' mean into the next model (core/run; the edge's own rounds, core/edge)
    peer    no server: edges push their models to their out-neighbours and mix what they
            receive; the control center only invites and records (core/peer)
    gkt     group knowledge transfer: edges train a small model and send features and
            logits; the server trains a large one on them and sends its logits back
            (core/gkt)

A coordinator is made as `Coordinator(hub, spec)` and has `serve() -> RunOutcome` and
`request_stop(failure=None)`. A trainer is made on an edge when it joins the run, as
`Trainer(hub, run, device_id, join_body, say, progress)`; it has `subscriptions()` (topic,
handler pairs for what it reads beyond the run's server topics), `on_message(message)`
(the run's messages from its coordinator, on the edge's worker thread) and `stop()`.
Classes are named as "module:Class" and imported when used, so that the window and the
hubs never import torch through this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    coordinator: str  # "module:Class"
    trainer: str | None  # "module:Class"; None: the edge's own FedAvg-family rounds
    in_center: bool  # the coordinator trains nothing: a thread of the control center


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("server", "app.core.run.server:FLServer", None, in_center=False),
        Protocol("peer", "app.core.peer.coordinator:PeerRun", "app.core.peer.node:PeerNode", True),
        Protocol("gkt", "app.core.gkt.server:GKTServer", "app.core.gkt.node:GKTNode", False),
    )
}


def protocol_of(algorithm: str) -> Protocol:
    """The protocol that runs the algorithm named `algorithm` (a registered name)."""
    from app.core.algorithms import ALGORITHMS

    return PROTOCOLS[ALGORITHMS[algorithm].role]


def protocol_for(config_snapshot: dict) -> Protocol:
    """The protocol of a stored job's config (its algorithm by name, FedAvg if unnamed)."""
    return protocol_of(config_snapshot.get("algorithm", {}).get("name", "fedavg"))


def load(reference: str) -> type:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)
