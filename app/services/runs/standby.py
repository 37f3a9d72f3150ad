"""A spare FL-server process, started before a run needs it.

Starting a server cold costs seconds (Python, torch, the task runtime, the database); a
standby has paid that while the control center was idle and waits on its stdin for the
run it will serve (`feddeck server --standby`). One is kept ready: taken by the next
run, and refilled when a run's server ends, so the refill never competes with a run that
is starting for the CPU. A standby whose launcher goes away sees its stdin close and ends.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from pathlib import Path

from app.config import Settings
from app.services.runs.child_processes import spawn_feddeck, stop_processes

log = logging.getLogger(__name__)


class StandbyServers:
    def __init__(self, settings: Settings, hub_url: str) -> None:
        self.settings, self.hub_url = settings, hub_url
        self._lock = threading.Lock()
        self._spare: subprocess.Popen | None = None
        self._closed = False

    @property
    def log_file(self) -> Path:
        """What a standby says before it has a run (a failed warm-up, say)."""
        return self.settings.data_dir / "logs" / "server-standby.log"

    def refill(self) -> None:
        """Start a spare unless one is ready (or starting) already."""
        with self._lock:
            if self._closed or (self._spare is not None and self._spare.poll() is None):
                return
            self._spare = self._start()

    def hand(self, job_id: int, resume: bool, log_file: Path) -> subprocess.Popen:
        """A server process serving run `job_id`: the spare if there is one (even one
        still warming up: it reads its run when ready), else one started now."""
        with self._lock:
            spare, self._spare = self._spare, None
        log_file.parent.mkdir(parents=True, exist_ok=True)
        order = json.dumps({"job_id": job_id, "resume": resume, "log": str(log_file)}) + "\n"
        for proc in (spare, None):
            if proc is None or proc.poll() is not None:
                proc = self._start()
            try:
                proc.stdin.write(order.encode())
                proc.stdin.close()
                return proc
            except OSError:  # it died between the check and the order: start another
                log.warning("a standby FL server ended before taking run %s", job_id)
        raise OSError(f"no FL server process could be started for run {job_id}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            stop_processes([spare], grace_s=5)

    def _start(self) -> subprocess.Popen:
        args = ["--db-url", self.settings.db_url, "server", "--standby", "--hub", self.hub_url]
        return spawn_feddeck(self.settings, args, self.log_file, stdin=subprocess.PIPE)
