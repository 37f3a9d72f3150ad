"""`python -m app.backends.ranks.router URL`: a rank 0 that only routes, until every other
rank of the job has ended (the other ranks' nodes talk to each other through it). URL is
the rank transport's: `mpi://world`, `trpc://world`."""

from __future__ import annotations

import os
import sys

from app.backends.ranks.world import world_of


def main(argv: list[str]) -> int:
    world = world_of(argv[0] if argv else "mpi://world")
    link = world.link()
    if link.rank != 0:
        print(f"app.backends.ranks.router runs as rank 0, not rank {link.rank}", file=sys.stderr)
        return 2
    link.wait_for_ranks()
    world.end()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # as every rank ends: gloo aborts if torch tears it down under a receive
