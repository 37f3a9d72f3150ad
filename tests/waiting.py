"""Waiting for a condition instead of for a fixed time: one helper for every test."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 30.0,
    what: str = "the condition",
    interval: float = 0.05,
) -> None:
    """Until `predicate()` is true; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Until something accepts connections on `port` of loopback."""

    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_until(accepts, timeout, f"a listener on port {port}")
