"""trpc:// hub clients: every node of this process shares the process's one gloo link."""

from __future__ import annotations

from app.backends.ranks.link import RankLink
from app.backends.ranks.world import RankWorld


def _wire():
    from app.backends.trpc.wire import TorchWire

    return TorchWire()


def _leave(link: RankLink) -> None:
    """The process group is not destroyed: a rank's receiving thread is still in a gloo
    wait that cannot be cancelled, and the process ends next."""


WORLD = RankWorld(_wire, _leave)
world = WORLD.link
end_world = WORLD.end
hub_from_url = WORLD.hub_from_url
