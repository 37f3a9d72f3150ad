"""The one place where plain-Python live events become Qt signals (queued to the GUI thread)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.services.runs.events import EventBus, LiveEvent


class LiveBridge(QObject):
    event = Signal(object)  # LiveEvent; emitted from ingest's thread, delivered on the GUI's

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = bus.subscribe(self._forward)

    def _forward(self, event: LiveEvent) -> None:
        self.event.emit(event)

    def close(self) -> None:
        self._unsubscribe()
