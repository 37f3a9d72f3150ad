"""Application logic shared by the window and the CLI. No Qt here.

Layers, top to bottom (an import goes downwards only; `tests/test_layering.py`):
`runs` → `registry` (the `Services` bundle) → `automation` → `entities` → `security`.

The bundle loads on first use, so a module such as `app.services.entities.records` imports
without the database (an edge-only install has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services.registry import SYSTEM, Actor, Services

__all__ = ["SYSTEM", "Actor", "Services"]


def __getattr__(name: str):
    if name in __all__:
        from app.services import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'app.services' has no attribute {name!r}")
