"""The rank hubs, mpi:// and trpc://: rank 0 of a cluster job routes between the nodes on
every rank. Real jobs under Open MPI's mpirun (`.ci/run` installs openmpi-bin and mpi4py)
and torch's torchrun (gloo) on this machine."""

from __future__ import annotations

import os
import re
import shutil
import socket
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


def torchrun(np: int, *args: str) -> list[str]:
    """torchrun on loopback, its store on a free port; `args` a command (--no-python)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [
        str(torchrun),
        *("--nnodes", "1", "--nproc-per-node", str(np)),
        *("--master-addr", "127.0.0.1", "--master-port", str(port), "--no-python"),
        *args,
    ]


def by_rank(rank_0: list[str], others: list[str]) -> list[str]:
    """One command for every rank of torchrun: `rank_0` on rank 0, `others` elsewhere."""
    n = len(rank_0)
    script = f'if [ "$RANK" = 0 ]; then exec "${{@:1:{n}}}"; else exec "${{@:{n + 1}}}"; fi'
    return ["bash", "-c", script, "ranks", *rank_0, *others]


def engine(kind: str, np: int, *command: str) -> list[str]:
    """`command` on `np` ranks of `kind`'s engine, every rank the same."""
    if kind == "mpi":
        return mpirun(*command, np=np)
    return torchrun(np, *command)


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


RANK_KINDS = ["mpi", "trpc"]
SUITE = [sys.executable, "-m", "pytest", "tests/hubs/test_conformance.py", "-q"]
SUITE += ["-p", "no:cacheprovider", "-rs", "-o", "addopts="]


@pytest.mark.parametrize("kind", RANK_KINDS)
def test_the_conformance_suite_passes_on_a_rank_beside_a_routing_rank_0(kind):
    """Every node the suite makes lives on rank 1; every message crosses to rank 0 and back."""
    router = [sys.executable, "-m", "app.backends.ranks.router", f"{kind}://world"]
    if kind == "mpi":
        command = mpirun("-np", "1", *router, ":", "-np", "1", *SUITE)
    else:
        command = torchrun(2, *by_rank(router, SUITE))
    output = run(command)
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 10, output[-3000:]
    assert "failed" not in output and " error" not in output.lower(), output[-3000:]
    assert "rank 0 of a cluster job is its hub" in output  # the one test that cannot apply


@pytest.mark.parametrize("kind", RANK_KINDS)
def test_three_ranks_fan_a_model_out_and_take_updates_and_wills_back(kind):
    output = run(engine(kind, 3, sys.executable, "-m", "tests.hubs.rank_world", f"{kind}://world"))
    checks = re.findall(r"CHECK ([^\n]+?)(?=CHECK|\n|$)", output)
    assert {"fan-out and updates", "a rank's unclosed node sends its will"} <= set(checks)
    assert {f"rank {r} ended" for r in range(3)} <= set(checks), output[-3000:]


@pytest.mark.parametrize("kind", RANK_KINDS)
def test_when_rank_0_ends_every_other_rank_hears_why(kind):
    world = [sys.executable, "-m", "tests.hubs.rank_world", f"{kind}://world", "rank0-ends"]
    output = run(engine(kind, 3, *world))
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
