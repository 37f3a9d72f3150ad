"""Frames between MPI ranks with mpi4py's buffer calls (`Isend`, `Iprobe`, `Recv`,
`Irecv`), never its pickling lowercase ones. One thread per process makes every MPI call
(MPI_THREAD_SERIALIZED) and never waits on one: sends and payloads are non-blocking, so
two ranks sending each other a large frame at once cannot deadlock, and a rank that died
in the middle of a frame holds up nothing but its own frames."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict, deque

from app.backends.ranks.buffers import ReceiveBuffers
from app.backends.ranks.link import Backoff, Frame, decode_header, encode_header
from app.wire.hub import HubError

log = logging.getLogger(__name__)
HEADER, PAYLOAD = 1, 2  # MPI tags: a frame's header, then its payload from the same rank


def load_mpi():
    """mpi4py's MPI module, initialised for one calling thread at a time."""
    try:
        import mpi4py

        mpi4py.rc.thread_level = "serialized"
        from mpi4py import MPI
    except (ImportError, RuntimeError) as exc:  # no mpi4py, or no MPI library under it
        raise HubError(
            f"the mpi:// hub needs mpi4py over Open MPI ({exc}): apt-get install "
            "openmpi-bin libopenmpi-dev, then pip install 'feddeck[mpi]'"
        ) from None
    return MPI


class MpiWire:
    def __init__(self) -> None:
        self.MPI = load_mpi()
        self.comm = self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._running = threading.Event()
        self._buffers = ReceiveBuffers()
        self._thread: threading.Thread | None = None

    def start(self, on_frame: Frame) -> None:
        self._on_frame = on_frame
        self._running.set()
        self._thread = threading.Thread(
            target=self._loop, name=f"feddeck-mpi-rank-{self.rank}", daemon=True
        )
        self._thread.start()

    def send(self, dest: int, header: dict, payload=None) -> None:
        if payload is not None:
            header = {**header, "n": len(payload)}
        self._out.put((dest, encode_header(header), payload))

    def stop(self, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout
        self._running.clear()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout + 5)

    # -- the MPI thread -------------------------------------------------------------------
    def _loop(self) -> None:
        MPI, comm = self.MPI, self.comm
        pending: list[tuple[object, object]] = []  # (request, the buffer it reads)
        arriving: dict[int, deque] = defaultdict(deque)  # by rank: (header, payload, request)
        status = MPI.Status()
        backoff = Backoff()
        while True:
            busy = False
            while True:  # start every queued send
                try:
                    dest, header, payload = self._out.get_nowait()
                except queue.Empty:
                    break
                pending.append((comm.Isend([header, MPI.BYTE], dest, HEADER), header))
                if payload is not None:
                    pending.append((comm.Isend([payload, MPI.BYTE], dest, PAYLOAD), payload))
                busy = True
            if pending:
                done = MPI.Request.Testsome([r for r, _ in pending]) or []
                if done:
                    keep = set(range(len(pending))) - set(done)
                    pending = [pending[i] for i in sorted(keep)]
                    busy = True
            while comm.Iprobe(MPI.ANY_SOURCE, HEADER, status):
                source = status.Get_source()
                raw = bytearray(status.Get_count(MPI.BYTE))
                comm.Recv([raw, MPI.BYTE], source, HEADER)  # probed: already here
                header = decode_header(raw)
                payload = request = None
                if "n" in header:  # its bytes come as they come, never waited for here
                    payload = self._buffers.take(int(header["n"]))
                    request = comm.Irecv([payload, MPI.BYTE], source, PAYLOAD)
                arriving[source].append((header, payload, request))
                busy = True
            for source, frames in arriving.items():
                # in order per rank; a rank that died mid-frame holds up only its own
                while frames and (frames[0][2] is None or frames[0][2].Test()):
                    header, payload, _ = frames.popleft()
                    try:
                        self._on_frame(source, header, payload)
                    except Exception:
                        log.exception("rank %d: a frame from rank %d failed", self.rank, source)
                    busy = True
            if not self._running.is_set() and self._out.empty() and not pending:
                return
            if not self._running.is_set() and time.monotonic() > self._deadline:
                log.warning("rank %d: %d sends unfinished at the end", self.rank, len(pending))
                return
            backoff.busy() if busy else backoff.idle()
