"""mpi:// hub clients: every node of this process shares the process's one MPI link."""

from __future__ import annotations

import atexit
import threading

from app.backends.ranks.hub import RankHub
from app.backends.ranks.link import RankLink

_link: RankLink | None = None
_lock = threading.Lock()


def world() -> RankLink:
    """This process's link to the MPI job's other ranks, made on first use; at exit it
    tells rank 0 (rank 0 waits for the others first, then tells them the world ends)."""
    global _link
    with _lock:
        if _link is None:
            from app.backends.mpi.wire import MpiWire

            _link = RankLink(MpiWire())
            atexit.register(end_world)
        return _link


def end_world(wait_s: float = 60.0) -> None:
    """This rank leaves the job: rank 0 first waits up to `wait_s` for the others to end,
    then tells them; then MPI is finalised (every rank must, or mpirun calls the job
    failed). Called at exit; a process that leaves by os._exit calls it first."""
    global _link
    with _lock:
        link, _link = _link, None
    if link is None:
        return
    if link.rank == 0:
        link.wait_for_ranks(timeout=wait_s)
    link.close(timeout=2.0 if link.lost else 10.0)
    # MPI_Finalize waits for every rank, a dead one too: after a loss, end without it
    # (mpirun --enable-recovery lets each rank end so; the process must then leave by
    # os._exit, or mpi4py finalises at exit).
    if not link.lost and not link.wire.MPI.Is_finalized():
        link.wire.MPI.Finalize()


def hub_from_url(url, node_id: str, *, limits=None, token=None, will_topic=None) -> RankHub:
    """The transport registry's client builder. `token` is not used: ranks are trusted."""
    return RankHub(world(), node_id, limits, will_topic)
