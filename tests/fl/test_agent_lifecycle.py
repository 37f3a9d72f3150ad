"""How agent processes end: promptly on SIGTERM/SIGINT in every state (connected, hub
gone with a full send window), non-zero when the hub refuses them for good, and with the
process that started them however it ends; the window quits cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from app.config import Settings
from app.services import Services
from app.services.runs.demo import start_center
from app.services.security.auth import SYSTEM
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

ENDS_WITHIN_S = 20  # a hang, not a speed figure: the agents end in about a second


class Center:
    def __init__(self, tmp_path, backend: str, heartbeat_s: float) -> None:
        self.settings = Settings.load(data_dir=tmp_path / f"deck-{backend}")
        self.services = Services.open(self.settings)
        self.cluster = start_center(self.settings, self.services, backend, heartbeat_s)

    def edge(self, name: str) -> subprocess.Popen:
        new = self.services.edges.register(SYSTEM, name)
        self.cluster.edges.start(name, new.edge.device_id, new.token)
        wait_until(lambda: self.status(name) == "IDLE", 60, f"{name} to connect")
        return self.cluster.edge_procs[-1]

    def status(self, name: str) -> str:
        return self.services.edges.get(SYSTEM, name).status

    def log(self, name: str) -> str:
        return (self.settings.data_dir / "logs" / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        self.cluster.close()
        self.services.close()


@pytest.fixture
def center(tmp_path):
    made: list[Center] = []

    def make(backend: str, heartbeat_s: float = 0.5) -> Center:
        made.append(Center(tmp_path, backend, heartbeat_s))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_a_connected_agent_ends_on_a_signal_and_says_it_went(center, backend, sig):
    c = center(backend)
    proc = c.edge("e1")
    proc.send_signal(sig)
    assert proc.wait(ENDS_WITHIN_S) == 0
    wait_until(lambda: c.status("e1") == "OFFLINE", 10, "its OFFLINE status")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_an_agent_whose_hub_is_gone_ends_on_a_signal(center, backend, sig):
    """Heartbeats every 10 ms with no hub fill the client's send window within seconds:
    the agent used to block on it for good, deaf to signals."""
    c = center(backend, heartbeat_s=0.01)
    proc = c.edge("e1")
    c.cluster.hub.close()
    c.cluster.embedded.stop()
    time.sleep(4.0)  # > 256 heartbeats queued while reconnecting
    assert proc.poll() is None
    proc.send_signal(sig)
    assert proc.wait(ENDS_WITHIN_S) == 0


def test_an_agent_refused_for_good_exits_non_zero_with_the_reason(center):
    c = center("grpc")
    proc = c.edge("e1")
    c.services.edges.remove(SYSTEM, "e1")  # the hub cuts its stream: credentials revoked
    assert proc.wait(60) == 1
    assert "credentials revoked; the edge agent stops" in c.log("e1")


PARENT = textwrap.dedent(
    """
    import sys, time
    from app.config import Settings
    from app.services import Services
    from app.services.runs.demo import start_center
    from app.services.security.auth import SYSTEM

    settings = Settings.load(data_dir=sys.argv[1])
    services = Services.open(settings)
    cluster = start_center(settings, services, "mqtt", 0.5)
    for name in ("e1", "e2"):
        new = services.edges.register(SYSTEM, name)
        cluster.edges.start(name, new.edge.device_id, new.token)
    print(" ".join(str(p.pid) for p in cluster.edge_procs), flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_demo_edges_end_with_the_process_that_started_them(tmp_path, sig):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "deck")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        children = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and all(p.is_running() for p in children)
        time.sleep(2.0)  # connected, or still connecting: either way they must go
        parent.send_signal(sig)
        parent.wait(ENDS_WITHIN_S)
        _gone, alive = psutil.wait_procs(children, timeout=ENDS_WITHIN_S)
        assert not alive, f"orphaned edge agents: {[p.pid for p in alive]}"
    finally:
        parent.kill()
        for p in psutil.Process().children(recursive=True):
            p.kill()


WINDOW = textwrap.dedent(
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel
    from app.ui.app import quit_on_signals

    app = QApplication([])
    wake = quit_on_signals(app)
    label = QLabel("FedDeck")
    label.show()
    QTimer.singleShot(0, lambda: print("ready", flush=True))
    code = app.exec()
    print("left the event loop", code, flush=True)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_window_leaves_its_event_loop_on_a_signal(sig):
    """So run_app's cleanup (which stops the edges it started) runs, as on File ▸ Quit."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WINDOW],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=ENDS_WITHIN_S)
        assert "left the event loop 0" in out
        assert proc.returncode == 0
    finally:
        proc.kill()


def test_a_demo_edge_token_is_never_on_its_command_line(center):
    """Every user of the machine reads command lines (`ps`): the token goes in the
    environment, and the agent connects with it."""
    import psutil

    c = center("grpc")
    proc = c.edge("e1")  # IDLE: it connected with the token it was given
    cmdline = " ".join(psutil.Process(proc.pid).cmdline())
    assert "--token" not in cmdline
    token = psutil.Process(proc.pid).environ()["FEDDECK_EDGE_TOKEN"]
    assert token.split(".")[0] == c.services.edges.get(SYSTEM, "e1").device_id
    assert token not in cmdline


def test_the_register_dialog_says_when_the_hub_is_on_loopback():
    from app.ui.dialogs.edge import agent_hint

    local = agent_hint("mqtt://127.0.0.1:18830", "pi-1")
    assert "FEDDECK_EDGE_TOKEN=<token> feddeck edge --hub mqtt://127.0.0.1:18830" in local
    assert "this machine only" in local
    remote = agent_hint("grpc://10.0.0.5:50051", "pi-1")
    assert "this machine only" not in remote and "--token" not in remote
