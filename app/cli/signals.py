"""Stopping a long-running command: SIGINT and SIGTERM end it cleanly."""

from __future__ import annotations

import signal
import threading


def wait_for_signal() -> None:
    stop = threading.Event()
    on_stop_signals(stop.set)
    stop.wait()


def on_stop_signals(callback) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: callback())
