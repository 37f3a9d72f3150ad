"""An edge that drops out mid-round, for the secure aggregation tests: a real edge agent
process that trains as any other and, in the round named in `--drop-file` (read each round;
0: never), dies where it would send its update, as a device that loses power would.

    FEDDECK_EDGE_TOKEN=T python -m tests.fl.dropping_edge --hub URL --name N --drop-file F
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from app.backends.factory import create_hub
from app.config import EDGE_TOKEN_ENV
from app.core.edge import EdgeAgent
from app.wire import topics


class DroppingAgent(EdgeAgent):
    def __init__(self, *args, drop_file: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drop_file = drop_file

    def _upload(self, run, update, direct) -> None:
        if update.round == int(self.drop_file.read_text()):
            os._exit(1)  # no goodbye: the hub's last will says OFFLINE
        super()._upload(run, update, direct)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--drop-file", type=Path, required=True)
    args = parser.parse_args()
    token = os.environ[EDGE_TOKEN_ENV]
    device = token.partition(".")[0]
    hub = create_hub(args.hub, device, token=token, will_topic=topics.edge_topic(device, "status"))
    agent = DroppingAgent(
        hub,
        device,
        args.name,
        heartbeat_s=0.5,
        cache_dir=args.drop_file.parent / "task-cache",
        drop_file=args.drop_file,
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
