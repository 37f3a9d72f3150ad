"""A task as a run carries it: what every node is told of the code it trains."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskSpec:
    """The task a run federates, as its job fixed it. A built-in task travels by name and
    hash only (every node has it); any other travels as its archive, signed."""

    name: str
    version: int
    label: str
    sha256: str
    builtin: bool
    data_key: str = ""
    requirements: tuple[str, ...] = ()
    archive: bytes = field(default=b"", repr=False)
    signature: str = ""  # Ed25519 over name, label and sha256, hex
    public_key: str = ""  # the signing center's, hex

    def announcement(self) -> dict[str, Any]:
        """What the JOIN message says of the task (the archive rides as its payload)."""
        return {
            "name": self.name,
            "version": self.version,
            "label": self.label,
            "sha256": self.sha256,
            "builtin": self.builtin,
            "data_key": self.data_key,
            "requirements": list(self.requirements),
            "signature": self.signature,
            "public_key": self.public_key,
        }
