"""`feddeck` processes this one starts, and how they end: stopped politely, killed after
a grace period, or, for children that must not outlive their parent however it ends
(SIGKILL included), ending themselves once it is gone."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

from app.config import Settings

log = logging.getLogger(__name__)

PARENT_ENV = "FEDDECK_DIE_WITH_PARENT"  # the parent's pid, for a child that ends with it


def spawn_feddeck(
    settings: Settings,
    args: list[str],
    log_file,
    die_with_parent: bool = False,
    stdin=None,
    secrets: dict[str, str] | None = None,
    engine: list[str] = (),
) -> subprocess.Popen:
    """`python -m app --data-dir D ARGS…` with its output appended to `log_file`.
    `secrets`: environment variables for the child (a token), never on its command line,
    which every user of the machine can read (`ps`). `engine`: a cluster engine's command
    that starts it on every rank (`mpirun -np 5 …`)."""
    cmd = [*engine, sys.executable, "-m", "app", "--data-dir", str(settings.data_dir), *args]
    env = {k: v for k, v in os.environ.items() if k != PARENT_ENV} | (secrets or {})
    if die_with_parent:
        env[PARENT_ENV] = str(os.getpid())
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        return subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_processes(procs: Iterable[subprocess.Popen], grace_s: float = 10.0) -> None:
    """SIGTERM all, then wait; whatever has not ended after `grace_s` is killed."""
    procs = [p for p in procs if p.poll() is None]
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def watch_parent(poll_s: float = 0.5) -> None:
    """In a child started with `die_with_parent`: SIGTERM itself (its usual, clean way to
    stop) once the parent is gone; Linux reparents an orphan, so its parent pid changes."""
    parent = os.environ.pop(PARENT_ENV, "")
    if not parent.isdigit():
        return

    def poll() -> None:
        while os.getppid() == int(parent):
            time.sleep(poll_s)
        log.warning("the process that started this one (pid %s) is gone; stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, name="parent-watch", daemon=True).start()
