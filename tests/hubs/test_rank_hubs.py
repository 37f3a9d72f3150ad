"""The mpi:// hub: rank 0 of an MPI job routes between the nodes on every rank. Real jobs
under Open MPI's mpirun on this machine (`.ci/run` installs openmpi-bin and mpi4py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.backends.ranks.routing import RoutingTable
from app.errors import InvalidInput
from app.wire.transports import parse_hub_url

ROOT = Path(__file__).resolve().parents[2]


def mpirun(*args: str, np: int | None = None) -> list[str]:
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (apt-get install openmpi-bin; .ci/run does)")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'feddeck[mpi]')")
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return ["mpirun", *root, "--oversubscribe", *(["-np", str(np)] if np else []), *args]


def run(command: list[str], timeout: float = 300) -> str:
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def test_the_conformance_suite_passes_on_a_rank_beside_a_routing_rank_0():
    """Every node the suite makes lives on rank 1; every message crosses to rank 0 and back."""
    output = run(
        mpirun(
            "-np",
            "1",
            sys.executable,
            "-m",
            "app.backends.mpi.router",
            ":",
            "-np",
            "1",
            sys.executable,
            "-m",
            "pytest",
            "tests/hubs/test_conformance.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "-o",
            "addopts=",
        )
    )
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 10, output[-3000:]
    assert "failed" not in output and "error" not in output.lower(), output[-3000:]
    assert "rank 0 of an MPI job is its hub" in output  # the one test that cannot apply


def test_three_ranks_fan_a_model_out_and_take_updates_and_wills_back():
    output = run(mpirun(sys.executable, "-m", "tests.hubs.rank_world", np=3))
    checks = re.findall(r"CHECK ([^\n]+?)(?=CHECK|\n|$)", output)
    assert {"fan-out and updates", "a rank's unclosed node sends its will"} <= set(checks)
    assert {f"rank {r} ended" for r in range(3)} <= set(checks), output[-3000:]


def test_when_rank_0_ends_every_other_rank_hears_why():
    output = run(mpirun(sys.executable, "-m", "tests.hubs.rank_world", "rank0-ends", np=3))
    checks = set(re.findall(r"CHECK ([^\n]+?)(?=CHECK|\n|$)", output))
    assert {"rank 1 heard that rank 0 ended", "rank 2 heard that rank 0 ended"} <= checks
    assert {f"rank {r} ended" for r in range(3)} <= checks, output[-3000:]


def test_routing_table_targets_each_subscribed_node_once_by_rank():
    table = RoutingTable()
    table.join(0, "server", None)
    table.join(1, "e1", ("fd/p/run/1/e1/status", b"will"))
    table.join(2, "e2", None)
    table.subscribe(0, "server", "fd/p/run/1/+/model/up")
    table.subscribe(1, "e1", "fd/p/run/1/server/#")
    table.subscribe(1, "e1", "fd/p/run/1/+/model/down")  # two patterns, one delivery
    table.subscribe(2, "e2", "fd/p/run/1/server/model/down")
    assert table.targets("fd/p/run/1/server/model/down") == {1: ["e1"], 2: ["e2"]}
    assert table.targets("fd/p/run/1/e2/model/up") == {0: ["server"]}
    table.unsubscribe(2, "e2", "fd/p/run/1/server/model/down")
    assert table.targets("fd/p/run/1/server/model/down") == {1: ["e1"]}
    assert table.rank_gone(1) == [("fd/p/run/1/e1/status", b"will")]
    assert table.targets("fd/p/run/1/server/model/down") == {}
    table.join(2, "e3", ("fd/x", b"w"))
    table.leave(2, "e3")  # closed cleanly: no will
    assert table.rank_gone(2) == []


def test_mpi_urls_name_no_host():
    assert parse_hub_url("mpi://world").transport.name == "mpi"
    assert parse_hub_url("mpi://").host == "world"
    with pytest.raises(InvalidInput, match="unknown parameter"):
        parse_hub_url("mpi://world?np=3")


def test_a_control_center_refuses_an_mpi_hub_url():
    from app.wire.transports import validate_hub_url

    with pytest.raises(InvalidInput, match="links the ranks of one cluster job"):
        validate_hub_url("mpi://world")
    assert validate_hub_url("grpc://10.0.0.2:50051") == "grpc://10.0.0.2:50051"
