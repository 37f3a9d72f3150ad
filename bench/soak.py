"""Soak: runs start back to back while a chaos loop kills a random part of the system at
random moments; at the end, invariants over the database and the disk.

    python -m bench.soak --minutes 30 [--edges 4] [--rounds 5] [--seed 1]

Everything is a real process, as on a lab workstation: a standalone gRPC hub (`feddeck
hub`), the edge agents (`feddeck edge`), and the control center (`feddeck scheduler`,
which fires a schedule every 15 s: the runs, and starts their FL server processes).
The chaos loop SIGKILLs one of: an edge, the FL server of a run going, the hub, or the
control center; what it killed (all but a server, which the control center relaunches
itself) comes back after a few seconds. When the time is up the schedule is disabled,
the chaos stops, open runs get time to end, everything is stopped, and the invariants
are checked: every FINISHED run has rounds 1..R exactly once; every stored model's
SHA-256 matches its file; no run is left QUEUED, STARTING or RUNNING; no process of
the soak is left. The counts are printed; it exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from app.backends.mqtt.embedded_broker import free_port
from tests.waiting import wait_port

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "soak", "soak-password-1"
OPEN = ("QUEUED", "STARTING", "RUNNING")


class Soak:
    def __init__(self, data: Path, edges: int, rounds: int, seed: int) -> None:
        from app.config import Settings
        from app.services import Services

        self.data, self.rng = data, random.Random(seed)
        self.settings = Settings.load(data_dir=data)
        self.services = Services.open(self.settings)
        self.port = free_port()
        self.hub_url = f"grpc://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "FEDDECK_USER": USER,
            "FEDDECK_PASSWORD": PASSWORD,
            "PYTHONPATH": str(ROOT),
        }
        self.logs = data / "soak-logs"
        self.logs.mkdir(parents=True)
        self.kills: collections.Counter = collections.Counter()
        self.edges: dict[str, tuple[str, subprocess.Popen | None]] = {}
        self.hub: subprocess.Popen | None = None
        self.center: subprocess.Popen | None = None
        self._setup(edges, rounds)

    # -- the lab ----------------------------------------------------------------------
    def _setup(self, edges: int, rounds: int) -> None:
        from app.core.fl_config import config_from_toml
        from app.services.security.auth import SYSTEM

        services = self.services
        services.users.create_first_admin(USER, PASSWORD)
        services.groups.add(SYSTEM, "soak", "")
        services.projects.create(SYSTEM, "soak", "soak", "", keep_client_rounds=2)
        base = ROOT / "resources" / "configs" / "digits-mlp-fedavg.toml"
        cfg = config_from_toml(base.read_text())
        training = cfg.training.model_copy(
            update={"rounds": rounds, "round_timeout_s": 15.0, "min_clients": 2}
        )
        services.configs.save(SYSTEM, cfg.model_copy(update={"name": "soak", "training": training}))
        for i in range(1, edges + 1):
            new = services.edges.register(SYSTEM, f"soak-{i}", tags=["soak"])
            self.edges[f"soak-{i}"] = (new.token, None)
        template = {"project": "soak", "config": "soak", "edge_tag": "soak", "wait_for_edges_s": 60}
        services.schedules.create(
            SYSTEM, "soak", template, "interval", "15s", overlap_policy="skip"
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (the child holds it)
        cmd = [sys.executable, "-m", "app", "--data-dir", str(self.data), *args]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)

    def start_hub(self) -> None:
        self.hub = self._spawn("hub", ["hub", "--grpc", f"127.0.0.1:{self.port}"])
        wait_port(self.port, 60)

    def start_edge(self, name: str) -> None:
        token, _ = self.edges[name]
        args = ["edge", "--hub", self.hub_url, "--token", token, "--name", name]
        self.edges[name] = (token, self._spawn(name, args))

    def start_center(self) -> None:
        self.center = self._spawn("center", ["--hub-url", self.hub_url, "scheduler"])

    def start_all(self) -> None:
        self.start_hub()
        for name in self.edges:
            self.start_edge(name)
        self.start_center()

    def ensure_up(self) -> None:
        """Whatever the chaos killed and has not come back yet, back now."""
        if self.hub is None or self.hub.poll() is not None:
            self.start_hub()
        for name, (_, proc) in self.edges.items():
            if proc is None or proc.poll() is not None:
                self.start_edge(name)
        if self.center is None or self.center.poll() is not None:
            self.start_center()

    # -- chaos ------------------------------------------------------------------------
    def servers(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if str(self.data) in cmd and " server --job " in cmd:
                found.append(proc)
        return found

    def strike(self) -> str:
        """Kill one thing; returns what."""
        kind = self.rng.choice(["edge", "edge", "server", "server", "hub", "center"])
        if kind == "server":
            servers = self.servers()
            if not servers:
                return "nothing (no server running)"
            self.rng.choice(servers).kill()
        elif kind == "edge":
            name = self.rng.choice(sorted(self.edges))
            proc = self.edges[name][1]
            if proc is None or proc.poll() is not None:
                return f"nothing ({name} was down)"
            proc.kill()
            proc.wait()
        elif kind == "hub":
            self.hub.kill()
            self.hub.wait()
        else:
            self.center.kill()
            self.center.wait()
        self.kills[kind] += 1
        return kind

    def chaos(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(self.rng.uniform(4, 16))
            what = self.strike()
            print(f"[{time.strftime('%H:%M:%S')}] killed {what}", flush=True)
            time.sleep(self.rng.uniform(1, 5))
            self.ensure_up()

    # -- the end ------------------------------------------------------------------------
    def wind_down(self, timeout_s: float = 300) -> None:
        from app.services.security.auth import SYSTEM

        self.services.schedules.set_enabled(SYSTEM, "soak", False)
        self.ensure_up()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not [j for j in self.services.jobs.list(SYSTEM) if j.status in OPEN]:
                break
            time.sleep(2)
            self.ensure_up()
        time.sleep(3)  # ingest's last batch
        procs = [self.center, self.hub, *(p for _, p in self.edges.values())]
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def violations(self) -> list[str]:
        from app.core.artifacts import ArtifactCorrupted, load_weights
        from app.services.security.auth import SYSTEM

        out = []
        jobs = self.services.jobs.list(SYSTEM)
        for job in jobs:
            if job.status in OPEN:
                out.append(f"job {job.id} left {job.status}")
            if job.status == "FINISHED":
                rounds = collections.Counter(
                    m.round
                    for m in self.services.run_data.metrics(SYSTEM, job.id)
                    if m.node == "aggregate" and m.name == "test_accuracy"
                )
                want = list(range(1, job.total_rounds + 1))
                if sorted(rounds) != want or set(rounds.values()) != {1}:
                    out.append(f"job {job.id} FINISHED with aggregate rounds {dict(rounds)}")
            for artifact in self.services.run_data.artifacts(SYSTEM, job.id):
                try:
                    load_weights(Path(artifact.path), artifact.sha256)
                except ArtifactCorrupted as exc:
                    out.append(f"job {job.id}: {exc}")
        deadline = time.monotonic() + 15
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.5)
        out += [f"process left running: {cmd}" for cmd in left]
        return out

    def leftovers(self) -> list[str]:
        left = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if str(self.data) in cmd and proc.pid != os.getpid():
                left.append(cmd[:160])
        return left

    def counts(self) -> dict[str, int]:
        from app.services.security.auth import SYSTEM

        return dict(collections.Counter(j.status for j in self.services.jobs.list(SYSTEM)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--edges", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="feddeck-soak-"))
    soak = Soak(data, args.edges, args.rounds, args.seed)
    started = time.monotonic()
    try:
        soak.start_all()
        soak.chaos(args.minutes * 60)
    finally:
        soak.wind_down()
    found = soak.violations()
    minutes = (time.monotonic() - started) / 60
    runs = soak.counts()
    print(f"\nsoak of {minutes:.1f} min in {data}")
    print(f"runs: {sum(runs.values())} ({', '.join(f'{k} {v}' for k, v in sorted(runs.items()))})")
    kills = ", ".join(f"{k} {v}" for k, v in sorted(soak.kills.items())) or "none"
    print(f"kills: {sum(soak.kills.values())} ({kills})")
    print(f"violations: {len(found)}")
    for line in found:
        print(f"  {line}")
    soak.services.close()
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
