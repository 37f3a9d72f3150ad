"""A run on a lab cluster's own engine: every participant a rank the engine starts, rank 0
the FL server (on this machine: it needs the database), ranks 1..N the trainers. The
launcher runs the engine's command in place of `feddeck server` (mpirun, torchrun; for
Slurm rank 0 itself, which starts the others with srun); each rank runs `feddeck
cluster-rank`, linked by the engine's transport (`mpi://world`, `trpc://world`)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from app.core.run.cluster_data import hosts_without_data
from app.errors import InvalidInput
from app.wire.transports import free_port


@dataclass(frozen=True)
class Engine:
    name: str  # the job start flag: --mpi, --torchrun, --slurm
    program: str  # what must be on PATH ("" for a Python module)
    module: str  # the package the ranks import to reach each other (found, not imported)
    install: str  # how to get what is missing
    hub_url: str  # the ranks' transport


ENGINES = {
    e.name: e
    for e in (
        Engine(
            "mpi",
            "mpirun",
            "mpi4py",
            "apt-get install openmpi-bin libopenmpi-dev, then pip install 'feddeck[mpi]'",
            "mpi://world",
        ),
        Engine("torchrun", "", "torch", "pip install torch", "trpc://world"),
        Engine(
            "slurm",
            "srun",
            "torch",
            "apt-get install slurm-wlm (a node of the lab's Slurm)",
            "trpc://world",
        ),
    )
}
TRAINERS_ENV = "FEDDECK_TRAINERS"  # rank 0 of a Slurm run: the srun line of ranks 1..N


@dataclass(frozen=True)
class ClusterPlan:
    engine: str  # a key of ENGINES
    ranks: int  # every rank: rank 0 serves, the others train
    hostfile: Path | None = None  # mpi
    partition: str | None = None  # slurm
    nodes: int | None = None  # slurm: over how many nodes ranks 1..N spread
    data_map: dict[str, dict[str, str]] | None = None  # host or rank → {KEY: PATH}
    nnodes: int = 1  # torchrun: machines, this one first (ranks / nnodes on each)

    def as_dict(self) -> dict:
        """What a job keeps of it (the data map's content, not its file)."""
        plan = {"engine": self.engine, "ranks": self.ranks}
        plan |= {"hostfile": str(self.hostfile)} if self.hostfile else {}
        plan |= {"partition": self.partition} if self.partition else {}
        plan |= {"nodes": self.nodes} if self.nodes else {}
        plan |= {"nnodes": self.nnodes} if self.nnodes != 1 else {}
        return plan | ({"data_map": self.data_map} if self.data_map is not None else {})

    @classmethod
    def from_dict(cls, plan: dict, source: str = "cluster") -> ClusterPlan:
        """A plan from a job, a schedule or a flow step: `{engine, ranks, hostfile,
        partition, nodes, data_map}`, the data map as a table or a file to read. Refused,
        naming the field, when malformed (not yet checked against this machine)."""
        from app.core.run.cluster_data import read_data_map

        if not isinstance(plan, dict):
            raise InvalidInput(f"{source}: give a table (engine, ranks, …)")
        unknown = sorted(
            set(plan) - {"engine", "ranks", "hostfile", "partition", "nodes", "data_map", "nnodes"}
        )
        if unknown:
            raise InvalidInput(f"{source}: unknown field(s) {', '.join(unknown)}")
        if plan.get("engine") not in ENGINES:
            raise InvalidInput(f"{source}.engine: one of {', '.join(ENGINES)}")
        for name in ("ranks", "nodes", "nnodes"):
            value = plan.get(name, 3 if name == "ranks" else None)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInput(f"{source}.{name}: a whole number")
        for name in ("hostfile", "partition"):
            if not isinstance(plan.get(name, ""), str):
                raise InvalidInput(f"{source}.{name}: a string")
        data_map = plan.get("data_map")
        if isinstance(data_map, str):
            data_map = read_data_map(Path(data_map).expanduser())
        elif data_map is not None and not isinstance(data_map, dict):
            raise InvalidInput(f"{source}.data_map: a file or a table of tables")
        return cls(
            plan["engine"],
            plan.get("ranks", 3),
            Path(plan["hostfile"]).expanduser().absolute() if plan.get("hostfile") else None,
            plan.get("partition") or None,
            plan.get("nodes"),
            data_map,
            plan.get("nnodes", 1),
        )

    @property
    def hub_url(self) -> str:
        """The URL the ranks reach each other by."""
        return ENGINES[self.engine].hub_url

    def check(self) -> ClusterPlan:
        """Refuse, with the reason, what cannot start: too few ranks, the engine missing,
        a hostfile that is unreadable, names an unknown host or not this machine first."""
        engine = ENGINES[self.engine]
        if self.ranks < 2:
            raise InvalidInput(
                f"{self.ranks} rank(s): a cluster run needs at least 2 ranks (rank 0 serves the "
                "run, every other rank trains)"
            )
        if engine.program and shutil.which(engine.program) is None:
            raise InvalidInput(
                f"{engine.program} is not installed on this machine: {engine.install}"
            )
        if _missing(engine.module):
            raise InvalidInput(f"{engine.module} cannot be imported: {engine.install}")
        if self.nnodes != 1 and (self.engine != "torchrun" or self.ranks % self.nnodes):
            raise InvalidInput(
                f"{self.nnodes} nodes: torchrun puts the same number of ranks on each "
                f"({self.ranks} ranks do not divide)"
                if self.engine == "torchrun"
                else "nnodes goes with torchrun"
            )
        if self.nodes is not None and not 1 <= self.nodes <= self.ranks - 1:
            raise InvalidInput(
                f"--nodes {self.nodes}: ranks 1..{self.ranks - 1} go on 1 to {self.ranks - 1} nodes"
            )
        hosts = [socket.gethostname()]
        if self.hostfile is not None:
            hosts = read_hostfile(self.hostfile)
            if not is_this_machine(hosts[0]):
                raise InvalidInput(
                    f"hostfile {self.hostfile}: its first host {hosts[0]!r} gets rank 0, which "
                    "serves the run from this machine's database: list this machine first"
                )
            hosts = hosts[1:] or hosts  # rank 0's host trains only if it is the only one
        if self.data_map is not None and self.engine != "slurm":  # srun picks the nodes
            missing = hosts_without_data(self.data_map, hosts)
            if missing:
                raise InvalidInput(
                    f"the data map has no table for host {missing[0]!r} (give [{missing[0]}], "
                    f'or one per rank: ["{missing[0]}-r1"])'
                )
        return self

    def command(self, port: int | None = None) -> list[str]:
        """The engine's command line, to which the rank's own command is appended (empty
        for Slurm: rank 0 runs here and starts the others with srun). `port`: where
        torchrun's rank 0 listens (a free one if not given)."""
        if self.engine == "torchrun":
            return self._torchrun(0, port or free_port(""))
        if self.engine == "slurm":
            return []
        root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
        # One machine: as many ranks as asked, whatever its cores. Ranks are not bound to
        # cores: each trains with torch's own threads. A rank that dies does not take the
        # job down (--enable-recovery): rank 0 notices its silence and the run goes on.
        placement = ["--hostfile", str(self.hostfile)] if self.hostfile else ["--oversubscribe"]
        return [
            "mpirun", *root, "-np", str(self.ranks), *placement,
            "--bind-to", "none", "--enable-recovery",
        ]  # fmt: skip

    def node_commands(self, port: int) -> list[list[str]]:
        """torchrun over several machines: the line that starts each other machine's
        ranks (this machine's listens on `port`), for the operator to run there."""
        if self.engine != "torchrun":
            return []
        return [self._torchrun(node, port) for node in range(1, self.nnodes)]

    def _torchrun(self, node: int, port: int) -> list[str]:
        # static rendezvous at rank 0's machine; --no-python: the rank's command is a program.
        # Here torchrun runs as FedDeck's agent (the same torchrun, its exit quicker); the
        # other machines' lines are plain torchrun, for the operator to run there.
        here = "127.0.0.1" if self.nnodes == 1 else socket.gethostname()
        agent = "app.backends.trpc.agent" if node == 0 else "torch.distributed.run"
        return [
            sys.executable, "-m", agent, "--nnodes", str(self.nnodes),
            "--node-rank", str(node), "--nproc-per-node", str(self.ranks // self.nnodes),
            "--master-addr", here, "--master-port", str(port), "--max-restarts", "0",
            "--no-python",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        """Rank 0's environment: for Slurm, its place in the world, where it listens and
        the srun line that starts ranks 1..N (each a task of one Slurm job step)."""
        if self.engine != "slurm":
            return {}
        import json

        srun = ["srun", "--ntasks", str(self.ranks - 1), "--kill-on-bad-exit=0"]
        srun += ["--job-name", "feddeck", "--export", "ALL"]
        srun += ["--nodes", str(self.nodes)] if self.nodes else []
        srun += ["--partition", self.partition] if self.partition else []
        return {
            "RANK": "0",
            "WORLD_SIZE": str(self.ranks),
            "MASTER_ADDR": socket.gethostname(),  # where the nodes reach rank 0
            "MASTER_PORT": str(free_port("")),
            TRAINERS_ENV: json.dumps(srun),
        }

    def crash_reason(self, code: int, log_lines: list[str]) -> str:
        """Why a cluster run ended without its server's result, from the engine's output."""
        told = [line for line in log_lines if _ENGINE_NEWS.search(line)]
        detail = f": {told[-1].strip()[:300]}" if told else ""
        program = ENGINES[self.engine].program or self.engine
        # under Slurm the launcher runs rank 0 itself (it starts the others with srun)
        how = (
            f"exit code {code}" if self.engine == "slurm" else f"{program} exited with code {code}"
        )
        return (
            f"rank 0, the run's server, ended without a result ({how}); the other ranks "
            f"were ended{detail}"
        )

    def first_failure(self, log_lines: list[str]) -> str | None:
        """The rank torchrun saw fail first (it then ends every rank), from its report."""
        report = "\n".join(log_lines)
        found = _TORCHRUN_ROOT.search(report)
        if self.engine != "torchrun" or found is None:
            return None
        rank, code, signal = int(found["rank"]), found["code"], found["signal"]
        node = rank_node(socket.gethostname(), rank)
        how = f"exit code {code}" + (f" ({signal})" if signal else "")
        return f"rank {rank} ({node}) failed first, {how}; torchrun then ended every rank"


def _missing(module: str) -> bool:
    try:
        return find_spec(module) is None
    except ModuleNotFoundError:  # its package is missing
        return True


# What the engine or the ranks say of a rank that died, in the run's server log.
_ENGINE_NEWS = re.compile(r"exited on signal|has been silent|Traceback|Error:|error:")
_TORCHRUN_ROOT = re.compile(
    r"Root Cause.*?rank\s*:\s*(?P<rank>\d+).*?exitcode\s*:\s*(?P<code>-?\d+)[^\n]*?"
    r"(?:\((?P<signal>SIG\w+)\))?\s*$",
    re.S | re.M,
)
_HOST_LINE = re.compile(r"^(?P<host>[A-Za-z0-9_.-]+)(\s+(slots|max_slots)\s*=\s*\d+)*\s*$")


def read_hostfile(path: Path) -> list[str]:
    """The hosts of an Open MPI hostfile (`host [slots=N]` per line, # comments), each
    checked to resolve."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(f"hostfile {path}: {exc.strerror or exc}") from None
    hosts = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _HOST_LINE.match(line)
        if match is None:
            raise InvalidInput(
                f"hostfile {path} line {number}: {raw.strip()!r} is not 'HOST [slots=N]'"
            )
        host = match["host"]
        try:
            socket.getaddrinfo(host, None)
        except OSError:
            raise InvalidInput(f"hostfile {path} line {number}: unknown host {host!r}") from None
        hosts.append(host)
    if not hosts:
        raise InvalidInput(f"hostfile {path} names no host")
    return hosts


def is_this_machine(host: str) -> bool:
    if host in ("localhost", socket.gethostname(), socket.getfqdn()):
        return True
    try:
        addresses = {a[4][0] for a in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return any(a.startswith("127.") or a == "::1" for a in addresses) or bool(
        addresses & _own_addresses()
    )


def _own_addresses() -> set[str]:
    import psutil

    return {a.address for nics in psutil.net_if_addrs().values() for a in nics}


def rank_node(host: str, rank: int) -> str:
    """A rank's device id and name: its host and rank (`node7-r3`), a valid topic level."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', host)[:48]}-r{rank}"
