"""bench.aggregate's table: streaming holds the sum and two updates, not every update."""

import json

from bench.aggregate import main


def test_the_aggregate_bench_reports_streaming_beside_held_and_memcpy(capsys):
    assert main(["--clients", "4", "--mb", "32", "--json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {
        "streaming, best",
        "streaming, med.",
        "streaming, 1st",
        "all held",
        "numpy memcpy",
    }
    # the float64 sum (2 models) + the update waiting + the one arriving, and 8 MiB scratch
    assert 3.9 <= rows["streaming, best"]["peak (models)"] <= 4.3
    assert rows["all held"]["peak (models)"] > 5
    assert all(r["MB/s"] > 0 for r in rows.values())
