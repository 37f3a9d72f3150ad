"""Plain-Python live events from ingest to whoever listens (the window bridges them to Qt)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # metric, sample, log, job, edge, artifact, hub, automation, storage
    job_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[LiveEvent], None]


class EventBus:
    """Listeners are called on the publishing thread; they must return quickly."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: LiveEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a live-event listener failed")
