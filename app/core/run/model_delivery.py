"""How a run's server sends each round's model and takes its updates back: over the hub,
or beside it for big models (`direct_models`), falling back to the hub with the reason in
the run's log whenever the direct channel fails an edge."""

from __future__ import annotations

from collections.abc import Callable

from app.core.run.direct_models import RELAY, DirectPlan, ServerDirect
from app.core.run.protocol import RunAddress
from app.wire import topics
from app.wire.direct import DirectFailed
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType


class ModelDelivery:
    def __init__(
        self,
        hub: Hub,
        run: RunAddress,
        plan: DirectPlan | None,
        say: Callable[[str, str], None],
        shown: Callable[[str], str],
    ) -> None:
        """`say(level, text)` writes to the run's log; `shown(node)` names an edge."""
        self.hub, self.run, self.say, self.shown = hub, run, say, shown
        self.direct: ServerDirect | None = None
        if plan is not None:
            try:
                self.direct = ServerDirect(plan, hub.limits.max_pending_bytes)
            except OSError as exc:
                say(
                    "WARNING",
                    f"the direct channel could not listen on {plan.host} "
                    f"({exc.strerror or exc}); models go over the hub",
                )

    def goes_direct(self, weights) -> bool:
        return self.direct is not None and self.direct.wants(weights)

    def stored(self, rnd: int, weights, file) -> None:
        """Round `rnd`'s model was stored as `file` (a `StoredArtifact`): if it goes
        direct, it goes as that file's bytes, under the digest the store computed."""
        if self.goes_direct(weights):
            self.direct.stored(rnd, weights, file.metadata, file.sha256)

    def direct_bytes(self) -> tuple[int, int]:
        """Bytes sent and received beside the hub so far."""
        channel = self.direct.channel if self.direct is not None else None
        return (channel.bytes_sent, channel.bytes_received) if channel else (0, 0)

    def send(self, rnd: int, body: dict, weights, relay_to: str | None = None) -> None:
        """The round's model to `body["selected"]`: announced on each edge's own control
        topic when it goes direct, else on the run's model/down topic (the hub fans it
        out); `relay_to`: over the hub to that edge alone, as its only selected edge."""

        def down(**extra) -> Message:
            return Message(MessageType.MODEL_DOWN, job_id=self.run.job_id, round=rnd, **extra)

        if relay_to is not None:
            alone = {**body, "selected": [relay_to]}
            self.hub.publish(
                topics.edge_topic(relay_to, "control"), down(body=alone, tensors=weights)
            )
        elif self.direct is not None and self.direct.wants(weights):
            offers = self.direct.offers(rnd, weights, list(body["selected"]))
            for edge, offer in offers.items():
                self.hub.publish(
                    topics.edge_topic(edge, "control"), down(body={**body, "direct": offer})
                )
        else:
            self.hub.publish(self.run.model_down, down(body=body, tensors=weights))

    @staticmethod
    def is_relay_request(message: Message) -> bool:
        return message.type == MessageType.CONTROL and message.body.get("action") == RELAY

    def relay(self, rnd: int, request: Message, body: dict, weights) -> None:
        """An edge could not fetch the model directly (`request` says why): over the hub."""
        reason = str(request.body.get("reason", ""))[:500] or "no reason given"
        self.say(
            "WARNING",
            f"round {rnd}: {self.shown(request.sender)} could not fetch the model directly "
            f"({reason}); sending it over the hub",
        )
        self.send(rnd, body, weights, relay_to=request.sender)

    def update(self, rnd: int, message: Message, body: dict, weights) -> Message | None:
        """An update as it came over the hub, or with the tensors it pushed directly. If
        those are not there, the edge is sent the round over the hub and sends its update
        again over the hub (an edge never trains a round twice); None meanwhile."""
        if self.direct is None or "direct" not in message.body:
            return message
        try:
            return self.direct.received(message)
        except DirectFailed as exc:
            self.say(
                "WARNING",
                f"round {rnd}: the direct upload from {self.shown(message.sender)} failed "
                f"({exc}); asking for it over the hub",
            )
            self.send(rnd, body, weights, relay_to=message.sender)
            return None

    def end_round(self, rnd: int) -> None:
        if self.direct is not None:
            self.direct.end_round(rnd)

    def close(self) -> None:
        if self.direct is not None:
            self.direct.close()
