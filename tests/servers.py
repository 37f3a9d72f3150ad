"""Servers the tests (and the benchmarks) run as real processes on loopback: Mosquitto, a
throwaway PostgreSQL cluster and a one-node Slurm."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from app.backends.mqtt.embedded_broker import free_port
from tests.waiting import wait_port, wait_until


class Mosquitto:
    """A real Mosquitto on a free loopback port, anonymous, without queue limits (so a
    benchmark or a test measures FedDeck, not the broker's defaults)."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("mosquitto")
        if self.binary is None:
            raise FileNotFoundError("mosquitto is not installed (`.ci/run` installs it)")
        self.port = free_port()
        self.conf = Path(directory) / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_inflight_messages 0\nmax_queued_messages 0\nmax_queued_bytes 0\n"
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port: initdb into a temp folder,
    pg_ctl start, one database, trust authentication on loopback only. The server refuses
    to run as root, so as root it runs as the `postgres` user (Debian's package makes it)."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL is not installed (`.ci/run` installs it)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="feddeck-pg-"))
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise FileNotFoundError("as root, PostgreSQL needs a `postgres` user") from None
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/feddeck_test"

    def _run(self, *args: str) -> None:
        def drop_root() -> None:
            if self.user is not None:
                os.setgid(self.user.pw_gid)
                os.setuid(self.user.pw_uid)

        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            preexec_fn=drop_root,
            cwd=self.dir,
            timeout=120,
        )

    def start(self) -> Postgres:
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir / "log")
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", log, "-w", "start")
        try:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                      "feddeck_test")  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin() -> Path | None:
    """The folder of one PostgreSQL version's programs (initdb beside createdb)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return versions[-1].parent if versions else None


class Slurm:
    """A one-node Slurm on this machine: munged (as the munge user, on a socket of its
    own), slurmctld and slurmd in the foreground on free ports, from a slurm.conf in a
    temp folder (SlurmUser root, proctrack/linuxproc, task/none, no accounting). `env`
    points srun at it. Needs root (slurmd runs tasks as their user)."""

    def __init__(self) -> None:
        missing = [p for p in ("munged", "slurmctld", "slurmd", "srun") if not shutil.which(p)]
        if missing:
            raise FileNotFoundError(
                f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge; "
                "`.ci/run` does)"
            )
        if os.geteuid() != 0:
            raise FileNotFoundError("a one-node Slurm runs slurmd as root")
        try:
            self.munge = pwd.getpwnam("munge")
        except KeyError:
            raise FileNotFoundError("munged needs the `munge` user (Debian's munge)") from None
        self.dir = Path(tempfile.mkdtemp(prefix="feddeck-slurm-"))
        self.dir.chmod(0o755)  # munged, as munge, reaches its folder inside
        self.host = socket.gethostname()
        self.procs: list[subprocess.Popen] = []
        self.conf = self.dir / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}

    def _munged(self) -> str:
        """munged on a socket in the temp folder, with a key of its own."""
        folder = self.dir / "munge"
        folder.mkdir(mode=0o700)
        key = folder / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o400)
        for path in (folder, key):
            os.chown(path, self.munge.pw_uid, self.munge.pw_gid)
        socket_path = folder / "munge.sock"

        def as_munge() -> None:
            os.setgid(self.munge.pw_gid)
            os.setuid(self.munge.pw_uid)

        files = {"key-file": key, "socket": socket_path, "pid-file": folder / "munged.pid"}
        files["seed-file"] = folder / "munged.seed"
        self.procs.append(
            subprocess.Popen(
                ["munged", "-F", "--force", *(f"--{k}={v}" for k, v in files.items())],
                preexec_fn=as_munge,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_until(socket_path.exists, 15, "munged's socket")
        return str(socket_path)

    def start(self) -> Slurm:
        try:
            munge_socket = self._munged()
            ctld, slurmd = free_port(), free_port()
            d = self.dir
            (d / "state").mkdir()
            (d / "spool").mkdir()
            self.conf.write_text(
                f"ClusterName=feddeck\nSlurmctldHost={self.host}(127.0.0.1)\n"
                f"SlurmctldPort={ctld}\nSlurmdPort={slurmd}\nSlurmUser=root\n"
                f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}\n"
                f"StateSaveLocation={d / 'state'}\nSlurmdSpoolDir={d / 'spool'}\n"
                f"SlurmctldPidFile={d / 'slurmctld.pid'}\nSlurmdPidFile={d / 'slurmd.pid'}\n"
                f"SlurmctldLogFile={d / 'slurmctld.log'}\nSlurmdLogFile={d / 'slurmd.log'}\n"
                "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
                "SchedulerType=sched/builtin\nSelectType=select/cons_tres\n"
                "SelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\n"
                "JobAcctGatherType=jobacct_gather/none\n"
                "AccountingStorageType=accounting_storage/none\n"
                "SlurmdParameters=config_overrides\n"
                # more CPUs than the machine has: a test runs more ranks than it has cores
                f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs=16 RealMemory=4000 "
                "State=UNKNOWN\n"
                f"PartitionName=lab Nodes={self.host} Default=YES MaxTime=INFINITE State=UP\n"
            )
            env = {**os.environ, **self.env}
            for daemon in ("slurmctld", "slurmd"):
                self.procs.append(
                    subprocess.Popen(
                        [daemon, "-D", "-f", str(self.conf)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            wait_until(lambda: self._node_state() == "idle", 60, "the Slurm node idle")
        except BaseException:
            self.stop()
            raise
        return self

    def _node_state(self) -> str:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%t"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=10,
        )
        for proc in self.procs:
            if proc.poll() is not None:
                log = next(iter(sorted(self.dir.glob("*.log"))), None)
                tail = log.read_text()[-1500:] if log else ""
                raise RuntimeError(f"{proc.args[0]} ended with {proc.returncode}: {tail}")
        return done.stdout.strip()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
