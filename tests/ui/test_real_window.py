"""The installed `feddeck` binary in a real X window (Xvfb), driven from the keyboard as a
person would: create the first admin, start the demo (Ctrl+Shift+R), watch the run finish,
take a screenshot, train its centralized baseline (Ctrl+2, Ctrl+B), quit (Ctrl+Q) with
nothing left running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BIN = Path(sys.executable).parent / "feddeck"
TOOLS = ("Xvfb", "xdotool")


@pytest.fixture
def display():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (Debian: xvfb xdotool)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(10)


def _xdotool(env: dict, *args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["xdotool", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"xdotool {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def _window(env: dict, title: str) -> str:
    """The id of the window with this title, once it is mapped and holds the focus (with no
    window manager, nothing gives it the focus but us), with a moment for Qt to settle."""
    wid = _xdotool(env, "search", "--sync", "--onlyvisible", "--name", title).splitlines()[0]
    deadline = time.monotonic() + 30
    while _xdotool(env, "getwindowfocus") != wid:
        assert time.monotonic() < deadline, f"window {title!r} never took the focus"
        _xdotool(env, "windowfocus", "--sync", wid)
        time.sleep(0.2)
    time.sleep(1.5)
    return wid


def _screenshot(env: dict, path: Path) -> None:
    grab = (
        "import sys; from PySide6.QtGui import QGuiApplication; app = QGuiApplication([]);"
        "sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)"
    )
    subprocess.run([sys.executable, "-c", grab, str(path)], env=env, check=True, timeout=60)


def _run_statuses(data: Path) -> list[str]:
    from app.config import Settings
    from app.services import Services
    from app.services.security.auth import SYSTEM

    services = Services.open(Settings.load(data_dir=data))
    try:
        return [j.status for j in services.jobs.list(SYSTEM)]
    finally:
        services.close()


def test_the_installed_binary_runs_the_demo_from_the_keyboard(display, tmp_path):
    data = tmp_path / "deck"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDDECK_")}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
    log = open(tmp_path / "window.log", "wb")  # noqa: SIM115 (the window holds it)
    window = subprocess.Popen(
        [str(BIN), "--data-dir", str(data)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _window(env, "create the admin")
        _xdotool(env, "type", "--delay", "30", "adminpass1")
        _xdotool(env, "key", "Tab")
        _xdotool(env, "type", "--delay", "30", "adminpass1")
        _xdotool(env, "key", "Return")
        _window(env, "^FedDeck$")
        _xdotool(env, "key", "ctrl+shift+r")
        try:
            wait_until(lambda: _run_statuses(data), 30, "a run", interval=0.5)
        except AssertionError:
            _screenshot(env, tmp_path / "no-run.png")
            pytest.fail(f"Ctrl+Shift+R started no run (see {tmp_path / 'no-run.png'})")

        def ended() -> bool:
            assert window.poll() is None, (tmp_path / "window.log").read_text()[-3000:]
            return _run_statuses(data)[0] in ("FINISHED", "FAILED", "STOPPED")

        wait_until(ended, 400, "the demo run to end", interval=1.0)
        statuses = _run_statuses(data)
        assert statuses == ["FINISHED"], (tmp_path / "window.log").read_text()[-3000:]
        shot = tmp_path / "window.png"
        _screenshot(env, shot)
        from PySide6.QtGui import QImage

        image = QImage(str(shot))
        assert (image.width(), image.height()) == (1280, 800)
        colours = {image.pixel(x, y) for x in range(0, 1280, 16) for y in range(0, 800, 16)}
        assert len(colours) > 20  # a window drawn, not a blank screen
        # the run's centralized baseline, from the keyboard: Jobs (Ctrl+2), then Ctrl+B
        _window(env, "^FedDeck$")
        _xdotool(env, "key", "ctrl+2")
        time.sleep(1.0)
        _xdotool(env, "key", "ctrl+b")
        wait_until(
            lambda: _run_statuses(data) == ["FINISHED", "FINISHED"], 120, "the baseline", 1.0
        )
        children = [p.pid for p in psutil.Process(window.pid).children(recursive=True)]
        _window(env, "^FedDeck$")
        _xdotool(env, "key", "ctrl+q")
        assert window.wait(60) == 0

        def left() -> list[int]:
            alive = [pid for pid in children if psutil.pid_exists(pid)]
            return [p for p in alive if psutil.Process(p).status() != psutil.STATUS_ZOMBIE]

        try:
            wait_until(lambda: not left(), 10, "the window's processes to end")
        except AssertionError:
            pytest.fail(f"processes left running after quit: {left()}")
        # nothing went wrong unseen: no traceback in its output, no error in its log file
        output = (tmp_path / "window.log").read_text(errors="replace")
        assert "Traceback" not in output, output[-3000:]
        errors = data / "logs" / "window.log"
        assert not errors.exists() or " ERROR " not in errors.read_text(), errors.read_text()
    finally:
        if window.poll() is None:
            window.kill()
            window.wait(10)
        log.close()
