"""`python -m app.backends.mpi.router`: a rank 0 that only routes, until every other rank of
the job has ended (the other ranks' nodes talk to each other through it)."""

from __future__ import annotations

import sys

from app.backends.mpi.client import world


def main() -> int:
    link = world()
    if link.rank != 0:
        print(f"app.backends.mpi.router runs as rank 0, not rank {link.rank}", file=sys.stderr)
        return 2
    link.wait_for_ranks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
