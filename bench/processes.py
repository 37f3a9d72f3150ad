"""Servers the benchmarks and the hub tests run as real processes on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from app.backends.mqtt.embedded_broker import free_port


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Until something accepts connections on `port` of loopback."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s")


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
