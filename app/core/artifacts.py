"""Model files: safetensors on disk with their SHA-256; integrity checked on every read."""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.run_spec import StoredModel
from app.errors import FedDeckError


class ArtifactCorrupted(ValueError):
    pass


class ArtifactNotWritten(FedDeckError):
    """A model file could not be written (a full disk, most often); nothing half-written
    is left behind under its name."""


def describe_write_error(exc: OSError, what: str) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {what}"
    return f"cannot write {what}: {exc.strerror or exc}"


@dataclass(frozen=True)
class StoredArtifact:
    path: Path
    sha256: str
    bytes: int


def save_weights(
    path: Path, weights: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> StoredArtifact:
    from safetensors.numpy import save

    data = save({k: np.require(v, requirements="C") for k, v in weights.items()}, metadata=metadata)
    tmp = path.with_suffix(".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(tmp, data)  # write then rename: a crash never leaves half a model
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArtifactNotWritten(describe_write_error(exc, str(path))) from exc
    return StoredArtifact(path, hashlib.sha256(data).hexdigest(), len(data))


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_weights(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactCorrupted(f"model file {path} cannot be read: {exc.strerror}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ArtifactCorrupted(
            f"model file {path} is corrupted: SHA-256 {digest[:12]}… "
            f"does not match the stored {expected_sha256[:12]}…"
        )
    return load(data)


def load_start_model(fresh: dict[str, np.ndarray], source: StoredModel) -> dict[str, np.ndarray]:
    """The stored model a run starts from, checked: intact (SHA-256) and the same tensors
    as the run's own model `fresh`. RuntimeError with the reason otherwise."""
    try:
        loaded = load_weights(source.path, source.sha256)
    except ArtifactCorrupted as exc:
        raise RuntimeError(f"initial model from {source.origin} refused: {exc}") from exc
    expected = {k: (v.shape, v.dtype) for k, v in fresh.items()}
    got = {k: (v.shape, v.dtype) for k, v in loaded.items()}
    if expected != got:
        diff = sorted(set(expected.items()) ^ set(got.items()))[:3]
        raise RuntimeError(
            f"initial model from {source.origin} does not fit this run's model: differs in {diff}"
        )
    return {k: np.array(loaded[k]) for k in fresh}
