"""An edge that drops out mid-round, for the secure aggregation tests: a real edge agent
process that trains as any other and, in the round named in `--control` (read each round;
0: never), dies where it would send its update, as a device that loses power would.

    FEDDECK_EDGE_TOKEN=T python -m tests.fl.dropping_edge --hub URL --name N --control F
"""

from __future__ import annotations

import os
from pathlib import Path

from app.core.edge import EdgeAgent
from tests.fl.edge_lab import serve_odd_edge


class DroppingAgent(EdgeAgent):
    def __init__(self, *args, control: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drop_file = control

    def _upload(self, run, update, direct) -> None:
        if update.round == int(self.drop_file.read_text()):
            os._exit(1)  # no goodbye: the hub's last will says OFFLINE
        super()._upload(run, update, direct)


if __name__ == "__main__":
    serve_odd_edge(DroppingAgent)
