"""Split encoded messages into chunks under one size limit, and put them back together.

Chunk layout (big-endian):

    b"FDC1" | message id (16 bytes) | u32 index | u32 count | u64 total size | data

Every message travels as chunks, even a one-chunk message, so every backend has one path.
The reassembler refuses what a peer could use to hurt a node: claimed sizes over the
limit, inconsistent counts, chunks that do not add up; it also bounds the memory held by
incomplete messages and drops those that stall.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.core.messages import MessageRejected

CHUNK_MAGIC = b"FDC1"
_HEAD = struct.Struct(">4s16sIIQ")
CHUNK_OVERHEAD = _HEAD.size
MiB = 1 << 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WireLimits:
    """Sizes every hub enforces. `chunk_size` counts data bytes per chunk."""

    chunk_size: int = 1 * MiB
    max_message_size: int = 2048 * MiB
    max_pending_bytes: int = 4096 * MiB  # incomplete messages held at once, all senders
    stall_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.chunk_size < 1024:
            raise ValueError("chunk_size must be at least 1 KiB")
        if self.max_message_size < self.chunk_size:
            raise ValueError("max_message_size must be at least chunk_size")


def split(frame: bytes, chunk_size: int) -> Iterator[bytes]:
    msg_id = os.urandom(16)
    total = len(frame)
    count = max(1, -(-total // chunk_size))
    view = memoryview(frame)
    for index in range(count):
        part = view[index * chunk_size : (index + 1) * chunk_size]
        yield _HEAD.pack(CHUNK_MAGIC, msg_id, index, count, total) + part


@dataclass
class _Partial:
    count: int
    total: int
    parts: dict[int, bytes] = field(default_factory=dict)
    received: int = 0
    last_seen: float = field(default_factory=time.monotonic)


class Reassembler:
    """Feed chunks from one receiving node; returns a whole frame when the last one arrives.

    Not thread-safe: one hub feeds it from its single dispatch thread.
    """

    def __init__(self, limits: WireLimits, clock=time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._partial: OrderedDict[bytes, _Partial] = OrderedDict()
        self._pending_bytes = 0
        self._done: OrderedDict[bytes, None] = OrderedDict()  # recent ids, to drop duplicates

    @property
    def pending_messages(self) -> int:
        return len(self._partial)

    def feed(self, chunk: bytes) -> bytes | None:
        self._expire()
        if len(chunk) < _HEAD.size:
            raise MessageRejected(f"chunk of {len(chunk)} bytes is shorter than its header")
        magic, msg_id, index, count, total = _HEAD.unpack_from(chunk)
        if magic != CHUNK_MAGIC:
            raise MessageRejected("not a FedDeck chunk (bad magic)")
        if total > self.limits.max_message_size:
            raise MessageRejected(
                f"message claims {total} bytes, over the limit of {self.limits.max_message_size}"
            )
        if count == 0 or index >= count or count > max(1, -(-total // 1024)):
            raise MessageRejected(f"chunk index {index} of {count} is inconsistent")
        if msg_id in self._done:
            return None  # a duplicate delivery (overlapping subscriptions, QoS 1 resend)
        data = chunk[_HEAD.size :]
        if count == 1:
            if len(data) != total:
                raise MessageRejected(f"single chunk holds {len(data)} bytes, header says {total}")
            self._remember(msg_id)
            return data
        partial = self._partial.get(msg_id)
        if partial is None:
            if self._pending_bytes + total > self.limits.max_pending_bytes:
                raise MessageRejected("too many incomplete messages held; chunk dropped")
            partial = self._partial[msg_id] = _Partial(count=count, total=total)
            self._pending_bytes += total
        elif (partial.count, partial.total) != (count, total):
            self._drop(msg_id)
            raise MessageRejected("chunks of one message disagree on count or size")
        if index in partial.parts:
            return None
        partial.parts[index] = data
        partial.received += len(data)
        partial.last_seen = self._clock()
        if partial.received > total:
            self._drop(msg_id)
            raise MessageRejected(f"chunks hold more than the {total} bytes announced")
        if len(partial.parts) < count:
            return None
        self._drop(msg_id)
        self._remember(msg_id)
        if partial.received != total:
            raise MessageRejected(f"chunks hold {partial.received} bytes, header says {total}")
        return b"".join(partial.parts[i] for i in range(count))

    def _drop(self, msg_id: bytes) -> None:
        partial = self._partial.pop(msg_id, None)
        if partial is not None:
            self._pending_bytes -= partial.total

    def _remember(self, msg_id: bytes) -> None:
        self._done[msg_id] = None
        if len(self._done) > 4096:
            self._done.popitem(last=False)

    def _expire(self) -> list[bytes]:
        now = self._clock()
        stale = [
            k for k, p in self._partial.items() if now - p.last_seen > self.limits.stall_timeout_s
        ]
        for key in stale:
            log.warning(
                "dropped an incomplete message %s: no chunk for %.0f s",
                key.hex(),
                self.limits.stall_timeout_s,
            )
            self._drop(key)
        return stale
