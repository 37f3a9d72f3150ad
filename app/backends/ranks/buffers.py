"""Receive buffers a rank wire reuses once nothing holds them any more.

A rank receives a model of the same size every round. A fresh 100 MB bytearray costs its
page faults on first touch, which on this kind of transfer take longer than the copy
itself (shared-memory MPI moves 100 MB into a reused buffer 3-4x faster than into a new
one). A kept buffer is handed out again only when the pool holds the sole reference to
it: a consumer that keeps a payload (a message, a tensor over its memory) keeps it out of
the pool.
"""

from __future__ import annotations

import sys
import threading

SMALLEST = 1 << 20  # below this a buffer is cheap to make: not kept
KEEP_BYTES = 640 << 20  # at most this much kept idle per wire


class ReceiveBuffers:
    def __init__(self, keep_bytes: int = KEEP_BYTES, smallest: int = SMALLEST) -> None:
        self._kept: list[bytearray] = []
        self._keep_bytes = keep_bytes
        self._smallest = smallest
        self._lock = threading.Lock()

    def take(self, n: int) -> bytearray:
        """A buffer of exactly `n` bytes whose content will be overwritten."""
        if n < self._smallest:
            return bytearray(n)
        with self._lock:
            for i in range(len(self._kept)):
                # 2: the list's slot and getrefcount's argument; nobody else holds it
                if len(self._kept[i]) == n and sys.getrefcount(self._kept[i]) == 2:
                    return self._kept[i]
            buf = bytearray(n)
            self._keep(buf)
            return buf

    def _keep(self, buf: bytearray) -> None:
        if len(buf) > self._keep_bytes:
            return
        # make room by dropping free buffers, oldest first; held ones are not ours to drop
        while sum(map(len, self._kept)) + len(buf) > self._keep_bytes:
            free = [i for i in range(len(self._kept)) if sys.getrefcount(self._kept[i]) == 2]
            if not free:
                return
            del self._kept[free[0]]
        self._kept.append(buf)
