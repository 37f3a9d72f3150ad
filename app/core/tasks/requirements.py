"""Whether this node has what a task needs. Nodes never install anything: a missing
requirement refuses the run, naming it."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements not met here, each with what is installed instead, if anything."""
    missing = []
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            missing.append(f"{line} (not a requirement)")
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            found = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if req.specifier and not req.specifier.contains(found, prereleases=True):
            missing.append(f"{line} (found {found})")
    return missing
