"""A hostile edge for the robust aggregation tests: a real edge agent process that trains
as any other, then multiplies its update by the number in `--scale-file` (read each round,
so one process serves a clean run and an attacked one).

    FEDDECK_EDGE_TOKEN=T python -m tests.fl.poisoning_edge --hub URL --name N --scale-file F
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np

from app.backends.factory import create_hub
from app.config import EDGE_TOKEN_ENV
from app.core.edge import EdgeAgent
from app.wire import topics


class PoisoningAgent(EdgeAgent):
    def __init__(self, *args, scale_file: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scale_file = scale_file

    def _upload(self, run, update, direct) -> None:
        scale = float(self.scale_file.read_text())
        tensors = {
            k: (v * scale).astype(v.dtype) if np.issubdtype(v.dtype, np.floating) else v
            for k, v in update.tensors.items()
        }
        super()._upload(run, dataclasses.replace(update, tensors=tensors), direct)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--scale-file", type=Path, required=True)
    args = parser.parse_args()
    token = os.environ[EDGE_TOKEN_ENV]
    device = token.partition(".")[0]
    hub = create_hub(args.hub, device, token=token, will_topic=topics.edge_topic(device, "status"))
    agent = PoisoningAgent(
        hub,
        device,
        args.name,
        heartbeat_s=0.5,
        cache_dir=args.scale_file.parent / "task-cache",
        scale_file=args.scale_file,
    )
    agent.start()
    try:
        while not agent.wait(1.0):
            pass
    finally:
        agent.stop()
        hub.close()


if __name__ == "__main__":
    main()
