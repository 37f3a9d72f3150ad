"""`python -m bench.transfer` runs end to end: hubs and receivers as processes, every row."""

import json

from bench.transfer import main


def test_transfer_bench_reports_every_row(capsys):
    assert main(["--sizes", "2", "--backends", "local,grpc", "--repeat", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = {(r["backend"], r["what"]) for r in rows}
    assert got == {
        ("tcp-socket", ""),
        ("grpcio-alone", "raw"),
        ("local", "message"),
        ("grpc", "message"),
        ("grpc", "raw"),
    }
    assert all(r["mb"] == 2 and r["mb_per_s"] > 0 and r["seconds"] > 0 for r in rows)
    assert next(r for r in rows if r["backend"] == "tcp-socket")["vs_socket"] == 1.0
