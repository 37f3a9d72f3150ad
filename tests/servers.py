"""Servers the tests (and the benchmarks) run as real processes on loopback: Mosquitto and
a throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from app.backends.mqtt.embedded_broker import free_port
from tests.waiting import wait_port


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
