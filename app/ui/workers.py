"""Blocking calls (database, network, torch) off the GUI thread, with the thread rules built in.

    run_in_background(page, fn, *args, on_result=..., on_error=...)

- `fn(*args)` runs on the global thread pool. It must not touch widgets: build what it
  needs (a query, filter values) on the GUI thread first and pass it in.
- `on_result` / `on_error` run on the GUI thread, and only while `page` (the receiving
  QObject) lives: the delivery is a child of `page`, so Qt drops it, queued results with
  it, once `page` is destroyed, the way superqt's workers stop with their parent. A
  callback may then be a lambda or a closure as safely as a bound method.
- `Worker.cancel()` drops the result too, and takes the call off the pool's queue if it has
  not started yet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Signals(QObject):
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()


class _Delivery(QObject):
    """Lives in the GUI thread as a child of the receiver; hands results to the callbacks."""

    def __init__(self, worker: Worker, receiver: QObject, on_result, on_error) -> None:
        super().__init__(receiver)
        self._worker, self._on_result, self._on_error = worker, on_result, on_error

    @Slot(object)
    def result(self, value: Any) -> None:
        if self._on_result is not None and not self._worker.cancelled:
            self._on_result(value)

    @Slot(object)
    def error(self, exc: Exception) -> None:
        if self._on_error is not None and not self._worker.cancelled:
            self._on_error(exc)


class Worker(QRunnable):
    """One call on the global thread pool; see the module docstring."""

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args = fn, args
        self.signals = _Signals()
        self.delivery: _Delivery | None = None
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once cancelled or once its receiver is gone (the result will be dropped)."""
        if self._cancelled.is_set():
            return True
        return self.delivery is not None and not shiboken6.isValid(self.delivery)

    def cancel(self) -> None:
        self._cancelled.set()
        if QThreadPool.globalInstance().tryTake(self):  # never started: it never will
            _forget(self)

    def run(self) -> None:
        try:
            if self.cancelled:
                return
            try:
                result = self.fn(*self.args)
            except Exception as exc:  # delivered to the GUI, which shows it
                self.signals.errored.emit(exc)
            else:
                self.signals.returned.emit(result)
        finally:
            self.signals.finished.emit()


_live: set[Worker] = set()  # a worker and its signals live until the GUI thread saw it finish


class _Reaper(QObject):
    """Forgets finished workers on the GUI thread, where their signal objects belong."""

    @Slot()
    def finished(self) -> None:
        worker = getattr(self.sender(), "worker", None)
        if worker is not None:
            _forget(worker)


_reaper: _Reaper | None = None


def _forget(worker: Worker) -> None:
    _live.discard(worker)
    if worker.delivery is not None and shiboken6.isValid(worker.delivery):
        worker.delivery.deleteLater()


def run_in_background(
    receiver: QObject,
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> Worker:
    """Call `fn(*args)` on the thread pool; deliver to `receiver` while it lives.
    Call from the GUI thread."""
    global _reaper
    if _reaper is None:
        _reaper = _Reaper()
    worker = Worker(fn, args)
    worker.signals.worker = worker  # the reaper finds the worker through the sender
    worker.delivery = _Delivery(worker, receiver, on_result, on_error)
    worker.signals.returned.connect(worker.delivery.result)
    worker.signals.errored.connect(worker.delivery.error)
    worker.signals.finished.connect(_reaper.finished)
    _live.add(worker)
    QThreadPool.globalInstance().start(worker)
    return worker


def wait_for_workers(timeout_ms: int = 5000) -> bool:
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
