"""A hub node on one rank of a world (see `app.backends.ranks.link`)."""

from __future__ import annotations

import dataclasses

from app.backends.base import BaseHub
from app.backends.ranks.link import RankLink
from app.wire.hub import HubError, HubState
from app.wire.limits import MiB, WireLimits

# A rank frame carries a chunk as one message: few, large ones (MPI counts up to 2**31-1
# bytes), but bounded, because a chunk is a copy of its part of the frame.
RANK_CHUNK = 256 * MiB


def rank_limits(limits: WireLimits | None) -> WireLimits:
    limits = limits or WireLimits()
    chunk = max(limits.chunk_size, min(RANK_CHUNK, limits.max_message_size))
    return dataclasses.replace(limits, chunk_size=chunk)


class RankHub(BaseHub):
    def __init__(
        self,
        link: RankLink,
        node_id: str,
        limits: WireLimits | None = None,
        will_topic: str | None = None,
    ) -> None:
        super().__init__(node_id, rank_limits(limits))
        self.link = link
        self._will_topic = will_topic

    @property
    def rank(self) -> int:
        return self.link.rank

    def connect(self, timeout: float = 10.0) -> None:
        if self.state == HubState.CONNECTED:
            return
        if self.state == HubState.CLOSED:
            raise HubError("hub is closed")
        self._set_state(HubState.CONNECTING)
        will = (self._will_topic, self.will_chunk()) if self._will_topic else None
        try:
            self.link.join(self, will, timeout)
            for pattern in self._patterns():
                self.link.subscribe(self.node_id, pattern)
        except HubError as exc:
            self.fatal_error = str(exc)
            self._set_state(HubState.DISCONNECTED)
            raise
        self._set_state(HubState.CONNECTED)

    def _send_chunk(self, topic: str, chunk: bytes) -> None:
        if self.state != HubState.CONNECTED:
            raise HubError(f"{self.node_id} is not connected to the rank world")
        self.link.publish(topic, chunk)

    def _backend_subscribe(self, pattern: str) -> None:
        if self.state == HubState.CONNECTED:
            self.link.subscribe(self.node_id, pattern)

    def _backend_unsubscribe(self, pattern: str) -> None:
        if self.state == HubState.CONNECTED:
            self.link.unsubscribe(self.node_id, pattern)

    def _backend_close(self) -> None:
        self.link.leave(self.node_id)

    def _world_ended(self, reason: str) -> None:
        """Called by the link when rank 0 ends: no rank can reach another any more."""
        self.fatal_error = f"the rank world has ended: {reason}"
        if self.state != HubState.CLOSED:
            self._set_state(HubState.DISCONNECTED)
