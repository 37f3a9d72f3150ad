"""When FEDDECK_STARTUP_TRACE names a file, the moment the first window is painted is
appended to it (`first-paint <unix time>`): how `bench/window_start.py` times the real
binary from the outside. Nothing happens without the variable."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

ENV = "FEDDECK_STARTUP_TRACE"


class _FirstPaint(QObject):
    def __init__(self, widget: QWidget, path: str) -> None:
        super().__init__(widget)
        self._path = path
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            with open(self._path, "a") as f:
                f.write(f"first-paint {time.time():.6f}\n")
        return False


def trace_first_paint(widget: QWidget) -> None:
    path = os.environ.get(ENV)
    if path:
        _FirstPaint(widget, path)
