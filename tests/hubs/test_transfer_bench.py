"""`python -m bench.transfer` runs end to end: hubs and receivers as processes, every row."""

import json
import shutil

from bench.transfer import main


def test_transfer_bench_reports_every_row(capsys):
    backends = "local,grpc,trpc" + (",mosquitto" if shutil.which("mosquitto") else "")
    backends += ",mpi" if shutil.which("mpirun") else ""
    assert main(["--sizes", "2", "--backends", backends, "--repeat", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = {
        ("tcp-socket", ""),
        ("grpcio-alone", "raw"),
        ("local", "message"),
        ("grpc", "message"),
        ("grpc", "raw"),
        ("direct", "message"),
        ("direct", "message, TLS"),
        ("direct", "stored model"),
        ("direct", "push"),
        ("trpc", "message"),
        ("trpc", "raw chunks"),
    }
    if "mpi" in backends:
        expected |= {("mpi", "message"), ("mpi", "raw chunks")}
    if "mosquitto" in backends:
        expected |= {("mosquitto", "message"), ("mosquitto", "raw"), ("paho-alone", "raw")}
    assert {(r["backend"], r["what"]) for r in rows} == expected
    assert all(r["mb"] == 2 and r["mb_per_s"] > 0 and r["seconds"] > 0 for r in rows)
    assert next(r for r in rows if r["backend"] == "tcp-socket")["vs_socket"] == 1.0
