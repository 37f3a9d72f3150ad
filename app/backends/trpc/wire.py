"""Frames between the ranks of a torch.distributed job (gloo) as byte tensors, with
point-to-point `send`/`recv`: never torch RPC, never a pickle.

A frame is three messages from one rank, told apart by tags: its sizes (two int64: the
header's length and the payload's, -1 for none), the JSON header, the payload. Each peer
has a thread that sends to it, in order, and one that receives from it. gloo's
point-to-point calls block until the other side posts its receive, and every rank always
has one posted for each peer, so two ranks sending each other a large frame at once cannot
deadlock, and a peer that died holds up only its own threads."""

from __future__ import annotations

import datetime
import logging
import os
import queue
import threading
import time
import warnings

from app.backends.ranks.buffers import ReceiveBuffers
from app.backends.ranks.link import Frame, decode_header, encode_header
from app.wire.hub import HubError

log = logging.getLogger(__name__)
SIZES, HEADER, PAYLOAD = 1, 2, 3  # tags
# How long ranks wait to meet, and any one gloo call: ranks ping each other every 2 s, so
# a receive this long without a frame means its peer is gone.
GLOO_TIMEOUT_S = 120
_STOP = object()
RANK_OFFSET_ENV = "FEDDECK_RANK_OFFSET"  # srun's task 0 is rank 1: rank 0 runs elsewhere


def world_env(env=os.environ) -> dict[str, str]:
    """This rank's place in the world: torchrun's variables, or Slurm's (`srun`) with the
    address rank 0 listens on given by the launcher. Refused, naming what is missing."""
    if "SLURM_PROCID" in env and "RANK" not in env:  # srun starts ranks 1..N of a run
        offset = int(env.get(RANK_OFFSET_ENV, "0"))
        rank, tasks = int(env["SLURM_PROCID"]), int(env.get("SLURM_NTASKS", "0"))
        env = {**env, "RANK": str(rank + offset), "WORLD_SIZE": str(tasks + offset)}
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
    if missing:
        raise HubError(
            f"the trpc:// hub runs on the ranks torchrun or srun starts: {', '.join(missing)} "
            "not set"
        )
    return {k: env[k] for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}


class TorchWire:
    def __init__(self) -> None:
        import torch
        import torch.distributed as dist

        self.torch, self.dist = torch, dist
        self._buffers = ReceiveBuffers()
        place = world_env()
        where = f"{place['MASTER_ADDR']}:{place['MASTER_PORT']}"
        if not dist.is_initialized():
            try:
                dist.init_process_group(
                    "gloo",
                    init_method=f"tcp://{where}",
                    rank=int(place["RANK"]),
                    world_size=int(place["WORLD_SIZE"]),
                    timeout=datetime.timedelta(seconds=GLOO_TIMEOUT_S),
                )
            except (RuntimeError, ValueError) as exc:
                raise HubError(
                    f"rank {place['RANK']} of {place['WORLD_SIZE']} did not meet the others at "
                    f"{where} within {GLOO_TIMEOUT_S} s: {str(exc).splitlines()[0][:200]}"
                ) from None
        self.rank, self.size = dist.get_rank(), dist.get_world_size()
        # rank 0 talks with every rank, the others with rank 0 only
        self.peers = list(range(1, self.size)) if self.rank == 0 else [0]
        self._out = {peer: queue.SimpleQueue() for peer in self.peers}
        self._sent = {peer: threading.Event() for peer in self.peers}

    def start(self, on_frame: Frame) -> None:
        self._on_frame = on_frame
        for peer in self.peers:
            for name, target in (("to", self._send_loop), ("from", self._recv_loop)):
                threading.Thread(
                    target=target,
                    args=(peer,),
                    name=f"feddeck-trpc-{self.rank}-{name}-{peer}",
                    daemon=True,
                ).start()

    def send(self, dest: int, header: dict, payload=None) -> None:
        self._out[dest].put((encode_header(header), payload))

    def stop(self, timeout: float) -> None:
        """Send what is queued, waiting up to `timeout` s in all. The receiving threads stay
        in their waits: gloo cannot cancel one, and the process is about to end."""
        deadline = time.monotonic() + timeout
        for out in self._out.values():
            out.put(_STOP)
        for peer, sent in self._sent.items():
            if not sent.wait(max(0.0, deadline - time.monotonic())):
                log.warning("rank %d: frames to rank %d unsent at the end", self.rank, peer)

    def _bytes(self, data) -> object:
        with warnings.catch_warnings():  # a read-only buffer is only read here
            warnings.simplefilter("ignore", UserWarning)
            return self.torch.frombuffer(data, dtype=self.torch.uint8)

    # -- the threads: one pair per peer, so that a peer that died mid-frame holds up only
    # -- its own (gloo waits for a message that will not come until its timeout)
    def _send_loop(self, peer: int) -> None:
        torch, dist = self.torch, self.dist
        out = self._out[peer]
        while True:
            item = out.get()
            if item is _STOP:
                self._sent[peer].set()
                return
            header, payload = item
            n = -1 if payload is None else len(payload)
            try:
                dist.send(torch.tensor([len(header), n], dtype=torch.int64), peer, tag=SIZES)
                dist.send(self._bytes(header), peer, tag=HEADER)
                if n > 0:
                    dist.send(self._bytes(payload), peer, tag=PAYLOAD)
            except Exception as exc:  # the rank is gone: the link's keepalive says so
                log.debug("rank %d: a frame to rank %d not sent: %s", self.rank, peer, exc)

    def _recv_loop(self, peer: int) -> None:
        torch, dist = self.torch, self.dist
        sizes = torch.empty(2, dtype=torch.int64)
        pause = 0.05
        while True:
            try:
                dist.recv(sizes, peer, tag=SIZES)
                header_n, n = int(sizes[0]), int(sizes[1])
                raw = bytearray(header_n)
                dist.recv(self._bytes(raw), peer, tag=HEADER)
                payload = None if n < 0 else self._buffers.take(n)
                if n > 0:
                    dist.recv(self._bytes(payload), peer, tag=PAYLOAD)
                header = decode_header(raw)
            except Exception as exc:
                # the peer died (its pair broke) or sent garbage: wait, then listen again
                log.debug("rank %d: a receive from rank %d failed: %s", self.rank, peer, exc)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            pause = 0.05
            try:
                self._on_frame(peer, header, payload)
            except Exception:
                log.exception("rank %d: a frame from rank %d failed", self.rank, peer)
