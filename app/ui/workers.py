"""Run blocking calls (database, network, torch) off the GUI thread; results come back by signal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Signals(QObject):
    returned = Signal(object)
    errored = Signal(object)


class Worker(QRunnable):
    """One call on the global thread pool. Connect to `signals` before `start()`."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.fn, self.args = fn, args
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # delivered to the GUI, which shows it
            self.signals.errored.emit(exc)
        else:
            self.signals.returned.emit(result)


_live: set[Worker] = set()


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> Worker:
    worker = Worker(fn, *args)
    _live.add(worker)  # keep the signals object alive until delivery
    worker.setAutoDelete(False)

    def done(*_: Any) -> None:
        _live.discard(worker)

    if on_result:
        worker.signals.returned.connect(on_result)
    if on_error:
        worker.signals.errored.connect(on_error)
    worker.signals.returned.connect(done)
    worker.signals.errored.connect(done)
    QThreadPool.globalInstance().start(worker)
    return worker


def wait_for_workers(timeout_ms: int = 5000) -> bool:
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
