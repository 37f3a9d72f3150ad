"""Where the shipped configs, tasks and flows are: `resources/` of a source checkout, or
`app/resources/` of an installed wheel (setup.py copies it there)."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "resources"
_CHECKOUT = Path(__file__).resolve().parents[1] / "resources"

RESOURCES = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
