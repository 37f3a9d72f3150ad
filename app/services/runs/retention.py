"""What runs keep on disk. A project's client-update retention is applied by ingest as
each round's aggregate is recorded (the rows go in that transaction, the files once it
committed, so no row ever names a deleted file); a finished run can be deleted whole; and
what the runs' models take is summed from their rows."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.run.directory import RunDir
from app.services.security.auth import Actor
from app.storage.models import Job, ModelArtifact

log = logging.getLogger(__name__)


def in_run_folder(path: str | Path, job_id: int) -> bool:
    """Only a run's own model files are ever deleted: run-<id>/round-<N>/<node>.safetensors."""
    p = Path(path)
    return (
        p.suffix == ".safetensors"
        and p.parent.name.startswith("round-")
        and p.parent.parent.name == f"run-{job_id}"
    )


def prune_client_updates(s: Session, job: Job, rnd: int) -> list[Path]:
    """Drop the rows of the client updates that fall out of the project's window once
    round `rnd` is aggregated; returns their files, to delete after the commit."""
    keep = job.project.keep_client_rounds
    if keep is None:
        return []
    old = (
        ModelArtifact.job_id == job.id,
        ModelArtifact.edge_id.is_not(None),
        ModelArtifact.round <= rnd - keep,
    )
    paths = s.scalars(select(ModelArtifact.path).where(*old)).all()
    if not paths:
        return []
    s.execute(delete(ModelArtifact).where(*old))
    return [Path(p) for p in paths if in_run_folder(p, job.id)]


def remove_files(paths: Iterable[Path]) -> int:
    """Delete files no row names any more; a failure is logged (the file is an orphan,
    not a dangling reference). Returns how many went."""
    removed = 0
    for path in paths:
        try:
            path.unlink(missing_ok=True)
            removed += 1
        except OSError as exc:
            log.warning("could not delete %s: %s", path, exc)
    return removed


def delete_run(services, artifacts_dir: Path, actor: Actor, job_id: int) -> dict:
    """A run that is over (or never started): its rows first, then its folder."""
    record = services.jobs.delete(actor, job_id)
    folder = RunDir(artifacts_dir, job_id).path
    freed = folder_size(folder)
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        log.warning("run %s: some of %s could not be deleted", job_id, folder)
    return {"deleted": job_id, "name": record.name, "freed_bytes": freed}


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0
