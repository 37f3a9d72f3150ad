"""Algorithms, one module each, found by name in `registry.ALGORITHMS`."""

from __future__ import annotations

import importlib
import pkgutil

from app.core.algorithms.registry import ALGORITHMS, Algorithm, Strategy, build_strategy, is_peer

# Every module here that is not the machinery registers its algorithms when imported.
_MACHINERY = {"registry", "running_mean", "sampling", "robust"}
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _MACHINERY:
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ALGORITHMS", "Algorithm", "Strategy", "build_strategy", "is_peer"]
