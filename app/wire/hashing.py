"""SHA-256 beside the I/O that moves the bytes: `fill_hashed` fills a fresh buffer from a
stream and a second thread hashes each step while the next is read; `HashAside` hashes
parts on a second thread while the caller writes or sends them. Socket and file I/O and
hashlib all let go of the GIL, so the two overlap. The direct channel and the model files
use both.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable

import numpy as np

STEP = 4 << 20  # bytes read (and hashed) per step


def fill_hashed(read_into: Callable[[memoryview], int], size: int) -> tuple[np.ndarray, bytes, int]:
    """(buffer of `size` bytes, SHA-256 of what was read, bytes read): fewer than `size`
    when `read_into` (a socket's `recv_into`, a file's `readinto`) hit the end first."""
    buffer = np.empty(size, dtype=np.uint8)
    view = memoryview(buffer)
    ranges: queue.SimpleQueue = queue.SimpleQueue()
    hasher = hashlib.sha256()

    def hash_ranges() -> None:
        while (span := ranges.get()) is not None:
            hasher.update(view[span[0] : span[1]])

    thread = threading.Thread(target=hash_ranges, name="hash-as-read", daemon=True)
    thread.start()
    pos = hashed = 0
    try:
        while pos < size:
            got = read_into(view[pos : min(size, pos + STEP)])
            if not got:
                break
            pos += got
            if pos - hashed >= STEP:
                ranges.put((hashed, pos))
                hashed = pos
        if hashed < pos:  # the last step, or what came before the end
            ranges.put((hashed, pos))
    finally:
        ranges.put(None)
        thread.join()
    return buffer, hasher.digest(), pos


class HashAside:
    """SHA-256 of `parts`, computed on a second thread while the caller writes or sends
    them; `digest()` waits for it. A context manager, so that an error in the caller
    still waits for the thread before the parts may change."""

    def __init__(self, parts) -> None:
        self._parts = [memoryview(p).cast("B") for p in parts]
        self._hasher = hashlib.sha256()
        self._thread = threading.Thread(target=self._run, name="hash-aside", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for part in self._parts:
            self._hasher.update(part)

    def digest(self) -> bytes:
        self._thread.join()
        return self._hasher.digest()

    def __enter__(self) -> HashAside:
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join()
