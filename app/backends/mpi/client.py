"""mpi:// hub clients: every node of this process shares the process's one MPI link."""

from __future__ import annotations

from app.backends.ranks.link import RankLink
from app.backends.ranks.world import RankWorld


def _wire():
    from app.backends.mpi.wire import MpiWire

    return MpiWire()


def _finalize(link: RankLink) -> None:
    # MPI_Finalize waits for every rank, a dead one too: after a loss, end without it
    # (mpirun --enable-recovery lets each rank end so; the process must then leave by
    # os._exit, or mpi4py finalises at exit). Every rank that can must finalise, or
    # mpirun calls the job failed.
    if not link.lost and not link.wire.MPI.Is_finalized():
        link.wire.MPI.Finalize()


WORLD = RankWorld(_wire, _finalize)
world = WORLD.link
end_world = WORLD.end
hub_from_url = WORLD.hub_from_url
