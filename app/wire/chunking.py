"""Split encoded messages into chunks under one size limit, and put them back together.

Chunk layout (big-endian):

    b"FDC1" | message id (16 bytes) | u32 index | u32 count | u64 total size | data

Every message travels as chunks, even a one-chunk message, so every backend has one path.
The reassembler refuses what a peer could use to hurt a node: claimed sizes over the
limit, inconsistent counts, chunks that do not add up; it also bounds the memory held by
incomplete messages and drops those that stall.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.wire.limits import MiB as MiB
from app.wire.limits import WireLimits as WireLimits
from app.wire.messages import MessageRejected

Buffer = bytes | bytearray | memoryview
CHUNK_MAGIC = b"FDC1"
_HEAD = struct.Struct(">4s16sIIQ")
CHUNK_OVERHEAD = _HEAD.size
log = logging.getLogger(__name__)


def split(frame: Buffer | Sequence[Buffer], chunk_size: int) -> Iterator[bytes]:
    """Chunks of the frame, given whole or as pieces (see messages.encode_parts): each chunk
    is cut straight from the pieces, so the frame is never joined into one buffer."""
    parts = [frame] if isinstance(frame, bytes | bytearray | memoryview) else frame
    views = [v for v in (memoryview(p).cast("B") for p in parts) if len(v)]
    total = sum(len(v) for v in views)
    count = max(1, -(-total // chunk_size))
    msg_id = os.urandom(16)
    pieces = iter(views)
    current, pos = next(pieces, memoryview(b"")), 0
    for index in range(count):
        out = [_HEAD.pack(CHUNK_MAGIC, msg_id, index, count, total)]
        need = min(chunk_size, total - index * chunk_size)
        while need:
            take = current[pos : pos + need]
            out.append(take)
            pos += len(take)
            need -= len(take)
            if pos == len(current):
                current, pos = next(pieces, memoryview(b"")), 0
        yield b"".join(out)


@dataclass
class _Partial:
    """A message being put back together in a buffer of its announced size. np.empty
    commits memory only as chunks land, so a chunk claiming a large total costs nothing
    until data backs it."""

    count: int
    total: int
    buffer: np.ndarray = field(init=False)
    stride: int | None = None  # bytes in every chunk but the last: learnt from the first
    tail: memoryview | None = None  # the last chunk, if it came before the stride was known
    have: set[int] = field(default_factory=set)
    last_seen: float = field(default_factory=time.monotonic)
    hasher: Any = None  # hashes the payload as the chunks before it are all in
    hash_from: int | None = None  # where the payload starts, once chunk 0 told
    hashed_chunks: int = 0

    def __post_init__(self) -> None:
        self.buffer = np.empty(self.total, dtype=np.uint8)

    def add(self, index: int, data: memoryview) -> None:
        """Place one chunk; raises MessageRejected for sizes that cannot belong."""
        last = index == self.count - 1
        if self.stride is None:
            if last:
                self.tail = data
                self.have.add(index)
                return
            stride = len(data)
            if not (self.count - 1) * stride < self.total <= self.count * stride:
                raise MessageRejected(
                    f"{self.count} chunks of {stride} bytes cannot hold {self.total} bytes"
                )
            self.stride = stride
            if self.tail is not None:
                self._place(self.count - 1, self.tail)
                self.tail = None
        self._place(index, data)
        self.have.add(index)

    def hash_ready(self, payload_offset: Callable[[memoryview], int | None]) -> None:
        """Hash every chunk whose predecessors are all in: on the dispatch thread, while the
        network is still bringing the rest, instead of all at the end."""
        if self.stride is None:
            return
        if self.hasher is None:
            if 0 not in self.have:
                return
            self.hash_from = payload_offset(memoryview(self.buffer)[: self.stride])
            if self.hash_from is None:
                return
            self.hasher = hashlib.sha256()
        view = memoryview(self.buffer)
        while self.hashed_chunks in self.have:
            begin = max(self.hashed_chunks * self.stride, self.hash_from)
            end = min((self.hashed_chunks + 1) * self.stride, self.total)
            if end > begin:
                self.hasher.update(view[begin:end])
            self.hashed_chunks += 1

    def _place(self, index: int, data: memoryview) -> None:
        assert self.stride is not None
        size = self.stride if index < self.count - 1 else self.total - index * self.stride
        if len(data) != size:
            raise MessageRejected(f"chunk {index} holds {len(data)} bytes, expected {size}")
        memoryview(self.buffer)[index * self.stride : index * self.stride + size] = data


class Reassembler:
    """Feed chunks from one receiving node; returns a whole frame when the last one arrives.

    Not thread-safe: one hub feeds it from its single dispatch thread.
    """

    def __init__(
        self,
        limits: WireLimits,
        clock=time.monotonic,
        payload_offset: Callable[[memoryview], int | None] | None = None,
    ) -> None:
        """`payload_offset`: where a frame's payload starts, given its first bytes; with it,
        the payload is hashed as it arrives and `payload_sha256` holds the digest."""
        self.limits = limits
        self._clock = clock
        self._payload_offset = payload_offset
        self.payload_sha256: str | None = None  # of the frame feed() last returned
        self._partial: OrderedDict[bytes, _Partial] = OrderedDict()
        self._pending_bytes = 0
        self._done: OrderedDict[bytes, None] = OrderedDict()  # recent ids, to drop duplicates

    @property
    def pending_messages(self) -> int:
        return len(self._partial)

    def feed(self, chunk: Buffer) -> memoryview | None:
        self._expire()
        self.payload_sha256 = None
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
        data = memoryview(chunk)[_HEAD.size :]
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
        if index in partial.have:
            return None
        try:
            partial.add(index, data)
        except MessageRejected:
            self._drop(msg_id)
            raise
        partial.last_seen = self._clock()
        if self._payload_offset is not None:
            partial.hash_ready(self._payload_offset)
        if len(partial.have) < count:
            return None
        self._drop(msg_id)
        self._remember(msg_id)
        if partial.hasher is not None and partial.hashed_chunks == count:
            self.payload_sha256 = partial.hasher.hexdigest()
        return memoryview(partial.buffer)

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
