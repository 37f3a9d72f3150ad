"""What secure aggregation costs in compute: an edge masking its update (a self mask and one
pairwise mask per other edge, its seed's Shamir shares sealed to each), and the server
summing the masked updates and unmasking the round with one edge dropped out, beside the
plain FedAvg fold of the same updates (`RunningMean`), measured in the same run. The wall
cost of whole rounds is `bench.round_overhead --secure grpc`.

    python -m bench.secure_aggregation [--params 100000,1000000] [--edges 5,10] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from app.core.algorithms.running_mean import RunningMean
from app.core.secagg.masking import EdgeSecrets
from app.core.secagg.secure_sum import MASKED, SecureSum, threshold_for
from app.wire.messages import Message, MessageType


def measure(params: int, edges: int) -> dict:
    rng = np.random.default_rng(0)
    updates = {
        f"edge-{i}": {"w": rng.standard_normal(params, dtype=np.float32)} for i in range(edges)
    }
    secrets = {node: EdgeSecrets(1, node) for node in updates}
    server = SecureSum(
        updates["edge-0"], {n: s.public for n, s in secrets.items()}, threshold_for(edges, 0.3)
    )
    body = server.round_body()["secagg"]
    start = time.perf_counter()
    masked = {n: secrets[n].mask(1, body, u, 100) for n, u in updates.items()}
    mask_s = (time.perf_counter() - start) / edges
    dropped = f"edge-{edges - 1}"
    start = time.perf_counter()
    for node, (vector, shares) in masked.items():
        if node != dropped:
            update = Message(
                MessageType.MODEL_UP, body={"shares": shares}, tensors={MASKED: vector}
            )
            server.add(node, update)
    request = server.unmask_request()
    for node in server.nodes:  # the edges' answers are computed here too: a small share
        answer = secrets[node].answer(1, body, request["survivors"], request["sealed"][node])
        server.take_answer(node, answer)
    secure_mean, _ = server.unmask()
    secure_s = time.perf_counter() - start
    start = time.perf_counter()
    plain = RunningMean()
    plain.start()
    for node, update in updates.items():
        if node != dropped:
            plain.add(node, update, 100)
    plain_mean = plain.mean()
    plain_s = time.perf_counter() - start
    error = float(np.abs(secure_mean["w"] - plain_mean["w"]).max())
    return {
        "params": params,
        "edges": edges,
        "mask_ms_per_edge": mask_s * 1000,
        "server_secure_ms": secure_s * 1000,
        "server_plain_ms": plain_s * 1000,
        "max_abs_difference": error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="100000,1000000")
    parser.add_argument("--edges", default="5,10")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(int(p), int(e)) for p in args.params.split(",") for e in args.edges.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("one round, one edge dropped out; server: sum and unmask vs plain FedAvg's fold")
    print(
        f"{'params':>9} {'edges':>5} {'mask ms/edge':>12} {'server secure ms':>16} "
        f"{'server plain ms':>15} {'x plain':>7} {'max |diff|':>10}"
    )
    for r in rows:
        print(
            f"{r['params']:>9} {r['edges']:>5} {r['mask_ms_per_edge']:>12.1f} "
            f"{r['server_secure_ms']:>16.1f} {r['server_plain_ms']:>15.1f} "
            f"{r['server_secure_ms'] / r['server_plain_ms']:>7.1f} {r['max_abs_difference']:>10.1e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
