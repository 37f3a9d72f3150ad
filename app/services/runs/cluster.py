"""A run on a lab cluster's own engine: every participant a rank the engine starts, rank 0
the FL server (on this machine: it needs the database), ranks 1..N the trainers. The
launcher runs the engine's command in place of `feddeck server`; each rank runs
`feddeck cluster-rank`, linked by the engine's transport (`mpi://world`)."""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from app.errors import InvalidInput

ENGINES = {"mpi": ("mpirun", "mpi4py", "openmpi-bin libopenmpi-dev", "mpi://world")}


@dataclass(frozen=True)
class ClusterPlan:
    engine: str  # a key of ENGINES
    ranks: int  # every rank: rank 0 serves, the others train
    hostfile: Path | None = None

    @property
    def hub_url(self) -> str:
        """The URL the ranks reach each other by."""
        return ENGINES[self.engine][3]

    def check(self) -> ClusterPlan:
        """Refuse, with the reason, what cannot start: too few ranks, the engine missing,
        a hostfile that is unreadable, names an unknown host or not this machine first."""
        program, module, packages, _ = ENGINES[self.engine]
        if self.ranks < 2:
            raise InvalidInput(
                f"--np {self.ranks}: a cluster run needs at least 2 ranks (rank 0 serves the "
                "run, every other rank trains)"
            )
        if shutil.which(program) is None:
            raise InvalidInput(
                f"{program} is not installed on this machine: apt-get install {packages}"
            )
        if find_spec(module) is None:
            raise InvalidInput(f"{module} is not installed: pip install 'feddeck[{self.engine}]'")
        if self.hostfile is not None:
            hosts = read_hostfile(self.hostfile)
            if not is_this_machine(hosts[0]):
                raise InvalidInput(
                    f"hostfile {self.hostfile}: its first host {hosts[0]!r} gets rank 0, which "
                    "serves the run from this machine's database: list this machine first"
                )
        return self

    def command(self) -> list[str]:
        """The engine's command line, to which the rank's own command is appended."""
        root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
        # One machine: as many ranks as asked, whatever its cores. Ranks are not bound to
        # cores: each trains with torch's own threads. A rank that dies does not take the
        # job down (--enable-recovery): rank 0 notices its silence and the run goes on.
        placement = ["--hostfile", str(self.hostfile)] if self.hostfile else ["--oversubscribe"]
        return [
            "mpirun",
            *root,
            "-np",
            str(self.ranks),
            *placement,
            "--bind-to",
            "none",
            "--enable-recovery",
        ]

    def crash_reason(self, code: int, log_lines: list[str]) -> str:
        """Why a cluster run ended without its server's result, from the engine's output."""
        told = [line for line in log_lines if _ENGINE_NEWS.search(line)]
        detail = f": {told[-1].strip()[:300]}" if told else ""
        return (
            f"rank 0, the run's server, ended without a result ({ENGINES[self.engine][0]} "
            f"exited with code {code}); the other ranks were ended{detail}"
        )


# What the engine or the ranks say of a rank that died, in the run's server log.
_ENGINE_NEWS = re.compile(r"exited on signal|has been silent|Traceback|Error:|error:")
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
