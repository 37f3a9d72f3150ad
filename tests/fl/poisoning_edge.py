"""A hostile edge for the robust aggregation tests: a real edge agent process that trains
as any other, then multiplies its update by the number in `--control` (read each round,
so one process serves a clean run and an attacked one).

    FEDDECK_EDGE_TOKEN=T python -m tests.fl.poisoning_edge --hub URL --name N --control F
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from app.core.edge import EdgeAgent
from tests.fl.edge_lab import serve_odd_edge


class PoisoningAgent(EdgeAgent):
    def __init__(self, *args, control: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scale_file = control

    def _upload(self, run, update, direct) -> None:
        scale = float(self.scale_file.read_text())
        tensors = {
            k: (v * scale).astype(v.dtype) if np.issubdtype(v.dtype, np.floating) else v
            for k, v in update.tensors.items()
        }
        super()._upload(run, dataclasses.replace(update, tensors=tensors), direct)


if __name__ == "__main__":
    serve_odd_edge(PoisoningAgent)
