"""A process's one link to the other ranks of its job, shared by every node of the process
and made on first use, whatever the transport (the wire) under it."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

from app.backends.ranks.hub import RankHub
from app.backends.ranks.link import RankLink, RankWire


class RankWorld:
    def __init__(
        self, make_wire: Callable[[], RankWire], finish: Callable[[RankLink], None]
    ) -> None:
        self._make_wire = make_wire
        self._finish = finish  # what the transport does last (MPI: finalise)
        self._link: RankLink | None = None
        self._lock = threading.Lock()

    def link(self) -> RankLink:
        """The link, made on first use; at exit the rank leaves (`end`)."""
        with self._lock:
            if self._link is None:
                self._link = RankLink(self._make_wire())
                atexit.register(self.end)
            return self._link

    def end(self, wait_s: float = 60.0) -> None:
        """This rank leaves the job: rank 0 first waits up to `wait_s` for the others to
        end, then tells them. Called at exit; a process that leaves by os._exit calls it
        first."""
        with self._lock:
            link, self._link = self._link, None
        if link is None:
            return
        if link.rank == 0:
            link.wait_for_ranks(timeout=wait_s)
        link.close(timeout=2.0 if link.lost else 10.0)
        self._finish(link)

    def hub_from_url(self, url, node_id: str, *, limits=None, token=None, will_topic=None):
        """The transport registry's client builder. `token` is not used: ranks are
        trusted (the engine started them on the operator's network)."""
        return RankHub(self.link(), node_id, limits, will_topic)


def world_of(url: str) -> RankWorld:
    """The world of a rank transport's URL (`mpi://world`, `trpc://world`)."""
    import importlib

    from app.wire.transports import parse_hub_url

    transport = parse_hub_url(url).transport
    if not transport.ranks:
        raise ValueError(f"{url} is not a rank transport's URL")
    return importlib.import_module(transport.client.partition(":")[0]).WORLD
