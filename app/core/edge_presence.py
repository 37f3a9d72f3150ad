"""What an edge agent says of itself on its own channel: its status (on start, on a change,
after a reconnect: its name, hardware and data keys) and, every `heartbeat_s`, its load
with the runs it is in and their progress."""

from __future__ import annotations

import logging
import threading

from app.core.system_stats import SystemSampler, hardware_facts
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)


class EdgePresence:
    def __init__(
        self,
        hub: Hub,
        device_id: str,
        name: str,
        data_keys: list[str],
        heartbeat_s: float,
        stop: threading.Event,
        runs: dict,
        progress: dict[int, float],
    ) -> None:
        self.hub, self.device_id, self.name = hub, device_id, name
        self.data_keys, self.heartbeat_s = data_keys, heartbeat_s
        self._stop, self._runs, self._progress = stop, runs, progress  # the agent's own
        self._sampler = SystemSampler()

    def announce(self, state: str, reconnected: bool = False) -> None:
        body = {
            "state": state,
            "name": self.name,
            "hardware": hardware_facts(),
            "data_keys": self.data_keys,
            **({"reconnected": True} if reconnected else {}),
        }
        try:
            self.hub.publish(
                topics.edge_topic(self.device_id, "status"), Message(MessageType.STATUS, body=body)
            )
        except Exception as exc:  # the hub may be down; the next heartbeat tells again
            log.debug("status not sent: %s", exc)

    def start_heartbeat(self) -> None:
        threading.Thread(target=self._heartbeat, name="edge-heartbeat", daemon=True).start()

    def _heartbeat(self) -> None:
        self._stop.wait(min(0.2, self.heartbeat_s))  # a first sample soon, after CPU priming
        while not self._stop.is_set():
            body = self._sampler.sample()
            body["runs"] = sorted(self._runs)
            if self._progress:
                body["progress"] = {str(k): round(v, 3) for k, v in self._progress.items()}
            try:
                self.hub.publish(
                    topics.edge_topic(self.device_id, "system"),
                    Message(MessageType.SYSTEM, body=body),
                )
            except Exception as exc:
                log.debug("heartbeat not sent: %s", exc)
            self._stop.wait(self.heartbeat_s)
