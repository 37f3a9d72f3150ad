"""The tasks that ship with FedDeck (resources/tasks/): every node has them, so they are
loaded from the node's own install, never shipped, and need no trust. Server and edges
check that they run the same code by the archive hash."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from app.core.tasks import archive
from app.resource_dir import RESOURCES

BUILTIN_DIR = RESOURCES / "tasks"


def builtin_names() -> list[str]:
    if not BUILTIN_DIR.is_dir():
        return []
    return sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "task.toml").is_file())


def builtin_folder(name: str) -> Path | None:
    return BUILTIN_DIR / name if name in builtin_names() else None


@lru_cache(maxsize=16)
def builtin_archive(name: str) -> bytes:
    """The built-in task's normalised archive, packed once per process (it is installed
    code: it does not change under a running node)."""
    folder = builtin_folder(name)
    if folder is None:
        raise KeyError(name)
    return archive.pack(folder)


def builtin_sha256(name: str) -> str:
    return archive.sha256(builtin_archive(name))
