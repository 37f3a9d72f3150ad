"""How soon the real `feddeck` binary shows its first window (the sign-in, or the first
admin's creation on a new database), timed from outside: the process is started, and the
time its first paint happens is read from FEDDECK_STARTUP_TRACE.

    python -m bench.window_start [--repeat 5] [--display offscreen|xvfb] [--json]

Baseline, measured in the same run: a fresh Python that imports QtWidgets and paints one
empty dialog, the floor for any Qt window started from Python here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = """
import os, sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QVBoxLayout
app = QApplication(sys.argv)
class Paint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            with open(os.environ["FEDDECK_STARTUP_TRACE"], "a") as f:
                f.write(f"first-paint {time.time():.6f}\\n")
            app.quit()
        return False
d = QDialog(); QVBoxLayout(d).addWidget(QLabel("a dialog")); f = Paint(); d.installEventFilter(f)
d.show(); app.exec()
"""


def time_to_paint(cmd: list[str], env: dict[str, str], timeout: float = 60) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace"
        start = time.time()
        proc = subprocess.Popen(
            cmd,
            env={**env, "FEDDECK_STARTUP_TRACE": str(trace)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if trace.exists() and "first-paint" in (text := trace.read_text()):
                    return float(text.split()[1]) - start
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd} exited with {proc.returncode} before painting")
                time.sleep(0.01)
            raise TimeoutError(f"{cmd} painted nothing in {timeout} s")
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def with_display(kind: str):
    """The environment for child windows, and what to stop afterwards."""
    env = dict(os.environ)
    if kind == "offscreen":
        env["QT_QPA_PLATFORM"] = "offscreen"
        return env, None
    if not shutil.which("Xvfb"):
        raise SystemExit("--display xvfb needs Xvfb")
    display = f":{os.getpid() % 400 + 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
    time.sleep(1.0)
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
    return env, xvfb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--display", choices=["offscreen", "xvfb"], default="offscreen")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    env, xvfb = with_display(args.display)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="feddeck-bench-") as tmp:
            signed_up = Path(tmp) / "existing"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "--data-dir",
                    str(signed_up),
                    "user",
                    "add",
                    "admin",
                    "--role",
                    "admin",
                ],
                env={**env, "FEDDECK_PASSWORD": "bench-password"},
                check=True,
                capture_output=True,
            )
            cases = [
                ("Qt dialog (floor)", lambda i: [sys.executable, "-c", FLOOR]),
                (
                    "feddeck, new database",
                    lambda i: [
                        sys.executable,
                        "-m",
                        "app",
                        "--data-dir",
                        str(Path(tmp) / f"new-{i}"),
                    ],
                ),
                (
                    "feddeck, sign-in",
                    lambda i: [sys.executable, "-m", "app", "--data-dir", str(signed_up)],
                ),
            ]
            for name, cmd in cases:
                times = [time_to_paint(cmd(i), env) for i in range(args.repeat)]
                rows.append(
                    {
                        "start": name,
                        "median_s": statistics.median(times),
                        "min_s": min(times),
                        "max_s": max(times),
                    }
                )
    finally:
        if xvfb is not None:
            xvfb.terminate()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"time to the first painted window, {args.repeat} starts each ({args.display})")
    print(f"{'start':<24} {'median s':>9} {'min s':>7} {'max s':>7}")
    for r in rows:
        print(f"{r['start']:<24} {r['median_s']:>9.2f} {r['min_s']:>7.2f} {r['max_s']:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
