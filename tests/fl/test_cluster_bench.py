"""`python -m bench.cluster_runs` runs end to end: the gRPC agents' row and a ranks' row."""

import json

from bench.cluster_runs import main


def test_cluster_bench_reports_a_row_per_engine_beside_grpc_agents(capsys):
    assert main(["--rounds", "2", "--engines", "torchrun", "--repeat", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["how"] for r in rows] == ["grpc agents", "torchrun ranks"]
    assert rows[0]["vs_grpc"] == 1.0
    assert all(0 < r["accuracy"] <= 1 and 0 < r["run_s"] < r["wall_s"] for r in rows)
    # the same job, the same data, the same seed: the same figure either way
    assert rows[0]["accuracy"] == rows[1]["accuracy"]
