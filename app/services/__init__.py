"""Application logic shared by the window and the CLI. No Qt here.

Layers, top to bottom (an import goes downwards only; `tests/test_layering.py`):
`runs` → `registry` (the `Services` bundle) → `automation` → `entities` → `security`.
"""

from app.services.registry import SYSTEM, Actor, Services

__all__ = ["SYSTEM", "Actor", "Services"]
