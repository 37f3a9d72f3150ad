"""A task folder as one normalised archive, so the same code always has the same SHA-256:
an uncompressed tar of the folder's files in sorted order, with owner, group, mode and
time fixed. Caches, VCS folders and compiled files are left out. Unpacking refuses
anything that would land outside the target folder, links, and oversize archives."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from app.errors import InvalidInput

MAX_ARCHIVE_BYTES = 64 << 20
MAX_FILES = 2000
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", ".mypy_cache", ".pytest_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def files(folder: Path) -> list[Path]:
    """The folder's files an archive of it holds, in its order."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            if path.suffix in _SKIP_SUFFIXES or name.startswith("."):
                continue
            if path.is_symlink():
                raise InvalidInput(f"{path}: a task may not hold symbolic links")
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def pack(folder: Path) -> bytes:
    """The folder's normalised archive."""
    members = files(folder)
    if len(members) > MAX_FILES:
        raise InvalidInput(f"{folder}: {len(members)} files; a task holds at most {MAX_FILES}")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
            if out.tell() > MAX_ARCHIVE_BYTES:
                raise InvalidInput(f"{folder}: the task is over {MAX_ARCHIVE_BYTES >> 20} MiB")
    return out.getvalue()


def difference(folder: Path, data: bytes) -> str | None:
    """What in `folder` differs from the archive it was unpacked from ('task.py was
    changed', 'extra.py was added'), or None when it holds exactly the archive's files.
    Compiled caches are removed first: Python compiles them again from the checked source."""
    for cache in list(folder.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        expected = {m.name: m for m in tar.getmembers()}
        present = {
            p.relative_to(folder).as_posix(): p
            for p in folder.rglob("*")
            if p.is_file() or p.is_symlink()
        }
        for name in sorted(present.keys() - expected.keys()):
            return f"{name} was added"
        for name in sorted(expected.keys() - present.keys()):
            return f"{name} was removed"
        for name, member in sorted(expected.items()):
            path = present[name]
            source = tar.extractfile(member)
            if path.is_symlink() or path.read_bytes() != (source.read() if source else b""):
                return f"{name} was changed"
    return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unpack(data: bytes, dest: Path) -> None:
    """Write the archive's files under `dest` (which must not exist yet)."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise InvalidInput(f"task archive of {len(data)} bytes is over the limit")
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 (closed below)
    except tarfile.TarError as exc:
        raise InvalidInput(f"task archive is not a tar archive: {exc}") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            raise InvalidInput(f"task archive is damaged: {exc}") from None
        if len(members) > MAX_FILES:
            raise InvalidInput(f"task archive holds {len(members)} files")
        for member in members:
            name = PurePosixPath(member.name)
            if (
                not member.isfile()
                or name.is_absolute()
                or ".." in name.parts
                or name.name in ("", ".")
            ):
                raise InvalidInput(f"task archive entry {member.name!r} is not a plain file inside")
        tmp = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            for member in members:
                target = tmp / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                target.write_bytes(source.read() if source else b"")
        except (tarfile.TarError, EOFError, OSError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            what = "cannot be unpacked" if isinstance(exc, OSError) else "is damaged"
            raise InvalidInput(f"task archive {what}: {exc}") from None
    try:
        os.replace(tmp, dest)
    except OSError:  # another process unpacked the same archive first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not dest.is_dir():
            raise
