"""Which clients train in a round."""

from __future__ import annotations

import numpy as np


def sample_clients(
    available: list[str], fraction: float, minimum: int, rng: np.random.Generator
) -> list[str]:
    """Pick max(minimum, ceil(fraction * n)) clients (all of them if fewer are available)."""
    want = max(minimum, int(np.ceil(fraction * len(available))))
    if want >= len(available):
        return sorted(available)
    return sorted(rng.choice(sorted(available), size=want, replace=False).tolist())
