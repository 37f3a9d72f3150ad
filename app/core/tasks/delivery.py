"""Where a node finds the code of a run's task: built-in tasks from its own install, any
other from the archive the server shipped, checked before a byte of it is written:
the edge must trust the signing center, the signature and the SHA-256 must hold, and the
requirements must be installed. Archives are unpacked into a cache by hash, and the
unpacked folder is compared with the checked archive before every run: a folder changed
since is unpacked again, so a node runs only the code it verified."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.tasks import archive
from app.core.tasks.builtin import builtin_folder, builtin_sha256
from app.core.tasks.requirements import missing_requirements
from app.core.tasks.signature import fingerprint, verify
from app.core.tasks.spec import TaskSpec
from app.errors import FedDeckError

log = logging.getLogger(__name__)


class TaskRefused(FedDeckError):
    """This node will not run the task; the text says why, for the operator."""


def _builtin(name: str, sha256: str) -> Path:
    folder = builtin_folder(name)
    if folder is None:
        raise TaskRefused(f"this node has no built-in task {name!r} (an older FedDeck?)")
    if builtin_sha256(name) != sha256:
        raise TaskRefused(
            f"built-in task {name!r} here differs from the server's "
            f"({builtin_sha256(name)[:12]}… here, {sha256[:12]}… there): FedDeck versions differ"
        )
    return folder


def _unpacked(data: bytes, sha256: str, cache_dir: Path, warn: Callable[[str], None]) -> Path:
    folder = cache_dir / sha256
    if folder.is_dir():
        altered = archive.difference(folder, data)
        if altered is None:
            return folder
        warn(
            f"the unpacked task in {folder} was altered since it was checked ({altered}): "
            "unpacked again from the verified archive"
        )
        shutil.rmtree(folder)
    cache_dir.mkdir(parents=True, exist_ok=True)
    archive.unpack(data, folder)
    return folder


def edge_task_folder(
    announced: dict[str, Any],
    data: bytes | None,
    trusted: str | None,
    cache_dir: Path,
    warn: Callable[[str], None] = log.warning,
) -> Path:
    """The folder of the task a JOIN announced, or TaskRefused with the reason; `warn`
    hears of a cached copy that had to be unpacked again."""
    try:
        name, label = str(announced["name"]), str(announced["label"])
        sha256, builtin = str(announced["sha256"]), bool(announced["builtin"])
        requirements = [str(r) for r in announced.get("requirements", [])]
    except (KeyError, TypeError) as exc:
        raise TaskRefused(f"the join request names no usable task ({exc})") from None
    missing = missing_requirements(requirements)
    if missing:
        raise TaskRefused(f"task {name} needs what this node lacks: {', '.join(missing)}")
    if builtin:
        return _builtin(name, sha256)
    try:
        public_key = bytes.fromhex(str(announced.get("public_key", "")))
        signature = bytes.fromhex(str(announced.get("signature", "")))
    except ValueError:
        raise TaskRefused(f"task {name} {label}: its key or signature is not hex") from None
    if trusted is None:
        raise TaskRefused(
            f"task {name} is code shipped by a control center, and this edge runs none: "
            f"its operator can allow this center with --trust-center {fingerprint(public_key)}"
        )
    if not signature:
        raise TaskRefused(f"task {name} {label} is not signed")
    if data is None:
        raise TaskRefused(f"task {name} {label} arrived without its archive")
    try:
        verify(public_key, signature, name, label, sha256, trusted)
    except FedDeckError as exc:
        raise TaskRefused(str(exc)) from None
    if archive.sha256(data) != sha256:
        raise TaskRefused(
            f"task {name} {label}: the archive does not match its SHA-256 (altered on the way)"
        )
    try:
        return _unpacked(data, sha256, cache_dir, warn)
    except FedDeckError as exc:
        raise TaskRefused(f"task {name} {label}: {exc}") from None


def server_task_folder(task: TaskSpec, run_dir: Path) -> Path:
    if task.builtin:
        return _builtin(task.name, task.sha256)
    if archive.sha256(task.archive) != task.sha256:
        raise TaskRefused(f"task {task.name}: the archive does not match its SHA-256")
    missing = missing_requirements(task.requirements)
    if missing:
        raise TaskRefused(f"task {task.name} needs what the server lacks: {', '.join(missing)}")
    return _unpacked(task.archive, task.sha256, run_dir / "task", log.warning)
