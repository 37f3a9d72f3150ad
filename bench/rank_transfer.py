"""One rank of `bench.transfer`'s mpi and trpc rows (`python -m bench.rank_transfer URL
BYTES REPEAT message|raw` as both ranks of a 2-rank job): rank 0 sends BYTES to a node on
rank 1, which answers once it holds them; rank 0 prints the best of REPEAT times from the
send to that answer. `message`: a named-tensor message, the answer sent once its handler
holds the decoded, checked tensors; `raw`: bare chunks of the hub's chunk size, counted as
they arrive."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from app.backends.factory import create_hub
from app.backends.ranks.world import world_of
from app.wire.chunking import CHUNK_OVERHEAD
from app.wire.messages import Message, MessageType


def main(url: str, nbytes: int, repeat: int, how: str) -> int:
    world = world_of(url)
    link = world.link()
    got = threading.Semaphore(0)
    node = create_hub(url, f"bench-{link.rank}")
    node.connect()
    if link.rank == 0:
        node.subscribe("fd/bench/ack", lambda _t, _m: got.release())
        node.subscribe("fd/bench/ready", lambda _t, _m: got.release())
        got.acquire()  # rank 1 listens
        payload = np.ones(nbytes, dtype=np.uint8)
        size = node.limits.chunk_size
        whole, rest = divmod(nbytes, size)
        chunks = [bytes(size + CHUNK_OVERHEAD)] * whole + [bytes(rest + CHUNK_OVERHEAD)] * (
            rest > 0
        )
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            if how == "raw":  # the same bytes in chunks of the hub's size, no message around
                for chunk in chunks:
                    node._send_chunk("fd/bench/raw", chunk)
            else:
                node.publish("fd/bench/data", Message(MessageType.DATA, tensors={"w": payload}))
            got.acquire()
            times.append(time.perf_counter() - start)
        print(f"seconds {min(times)!r}", flush=True)
    else:
        counted = [0]

        def ack() -> None:
            node.publish("fd/bench/ack", Message(MessageType.DATA))

        def on_data(_topic: str, message: Message) -> None:
            assert message.tensors["w"].nbytes == nbytes
            ack()

        def count(_topic: str, chunk) -> None:  # on the wire's thread, nothing decoded
            counted[0] += len(chunk) - CHUNK_OVERHEAD
            if counted[0] >= nbytes:
                counted[0] = 0
                ack()

        node.subscribe("fd/bench/#", on_data)
        if how == "raw":
            node._on_chunk = count
        node.publish("fd/bench/ready", Message(MessageType.DATA))
        while link.ended is None:
            time.sleep(0.05)
    node.close()
    world.end(wait_s=0 if link.rank == 0 else 60)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    sys.stdout.flush()
    os._exit(code)  # as every rank ends: gloo aborts if torch tears it down under a receive
