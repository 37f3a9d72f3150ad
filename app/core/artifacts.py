"""Model files: safetensors on disk with their SHA-256; integrity checked on every read."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.run.spec import StoredModel
from app.errors import FedDeckError
from app.wire import tensor_format
from app.wire.hashing import HashAside, fill_hashed


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
    metadata: dict[str, str] | None = None  # as written in the file's header


def save_weights(
    path: Path, weights: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> StoredArtifact:
    """The weights as a safetensors file, written straight from the arrays (no copy of
    the model in between) and hashed on a second thread while they are written: write
    and SHA-256 both let go of the GIL."""
    head, views = tensor_format.layout(weights, metadata)
    parts = [head, *views]
    tmp = path.with_suffix(".partial")
    try:
        with HashAside(parts) as hashing:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(tmp, parts)  # write then rename: a crash never leaves half a model
            tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArtifactNotWritten(describe_write_error(exc, str(path))) from exc
    return StoredArtifact(path, hashing.digest().hex(), sum(len(p) for p in parts), metadata)


def write_file(path: Path, parts: list[bytes | memoryview]) -> None:
    with open(path, "wb", buffering=0) as fh:
        for part in parts:
            view = memoryview(part).cast("B")
            while view:  # a raw write may take less than it was given
                view = view[fh.write(view) :]
        os.fsync(fh.fileno())


def load_weights(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    """The file's tensors, viewing the one buffer it was read into; ArtifactCorrupted if
    it cannot be read, its SHA-256 is not `expected_sha256`, or it is not safetensors."""
    try:
        with open(path, "rb", buffering=0) as fh:
            buffer, digest, got = fill_hashed(fh.readinto, os.fstat(fh.fileno()).st_size)
    except OSError as exc:
        raise ArtifactCorrupted(f"model file {path} cannot be read: {exc.strerror}") from exc
    if got != len(buffer) or digest.hex() != expected_sha256:
        raise ArtifactCorrupted(
            f"model file {path} is corrupted: SHA-256 {digest.hex()[:12]}… "
            f"does not match the stored {expected_sha256[:12]}…"
        )
    try:
        return tensor_format.read(memoryview(buffer))
    except tensor_format.SafetensorsError as exc:
        raise ArtifactCorrupted(f"model file {path} is not a safetensors file: {exc}") from exc


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
