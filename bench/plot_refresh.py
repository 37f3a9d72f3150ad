"""How long one refresh of the live run views takes at lab scale: 50 edges sampling every
second for an hour, and a 1,000-round run with 50 clients. Compared in the same run with the
same plots drawing every point of every edge as its own line, with grid lines (no min-max
bands, no peak downsampling, no clip-to-view, grids kept on large runs).

    python -m bench.plot_refresh [--edges 50] [--rounds 1000] [--seconds 3600] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QApplication

from app.services.entities.records import JobRecord
from app.ui.run_views.curves import CurvesTab
from app.ui.run_views.data import RunView
from app.ui.run_views.load import LoadTab


def synthetic_view(edges: int, rounds: int, seconds: int) -> RunView:
    names = [f"edge-{i:02d}" for i in range(edges)]
    t0 = time.time() - seconds
    began = datetime.fromtimestamp(t0, UTC)
    job = JobRecord(
        1,
        "bench",
        [],
        "p",
        "c",
        1,
        {},
        names,
        "RUNNING",
        "",
        rounds,
        rounds + 100,  # room for the rounds the frames add
        None,
        began,
        began,
        None,
    )
    view = RunView(job)
    rng = np.random.default_rng(0)
    for name in names:
        load = rng.uniform(0, 100, size=seconds)
        for key in ("cpu", "mem", "net_sent"):
            series = view.samples[name][key]
            for s, v in enumerate(load):
                series.append(t0 + s, float(v))
    for r in range(1, rounds + 1):
        view.metrics[("aggregate", "test_accuracy")][r] = 1 - 1 / (r + 1)
        view.metrics[("aggregate", "test_loss")][r] = 1 / (r + 1)
        for name in names:
            view.metrics[(name, "train_loss")][r] = float(rng.uniform(0, 1))
    return view


def frame_ms(app: QApplication, widget, view: RunView, frames: int) -> float:
    """Each frame: one new sample per edge and one new round with every client's loss (as
    live), then draw: the time until the frame is painted (the event loop's paint)."""
    import pyqtgraph as pg
    from PySide6.QtCore import QEvent, QObject

    class Paints(QObject):
        count = 0

        def eventFilter(self, _obj, event) -> bool:
            Paints.count += event.type() == QEvent.Type.Paint
            return False

    widget.resize(1200, 800)
    widget.show()
    widget.render(view)
    app.processEvents()
    paints = Paints()
    for canvas in widget.findChildren(pg.GraphicsView):
        canvas.viewport().installEventFilter(paints)
    edges = view.job.edges
    start = time.perf_counter()
    for _ in range(frames):
        now = time.time() + view.version
        for edge in edges:
            for key in ("cpu", "mem", "net_sent"):
                view.samples[edge][key].append(now, 50.0)
        rnd = max(view.metrics[("aggregate", "test_accuracy")]) + 1
        view.metrics[("aggregate", "test_accuracy")][rnd] = 0.9
        view.metrics[("aggregate", "test_loss")][rnd] = 0.1
        for edge in edges:
            view.metrics[(edge, "train_loss")][rnd] = 0.2
        view.version += 1
        widget.render(view)
        app.processEvents()
    elapsed = time.perf_counter() - start
    if Paints.count < frames:  # each frame must have reached the screen to count
        raise RuntimeError(f"{Paints.count} paints in {frames} frames")
    return elapsed * 1000 / frames


def plain(widget) -> None:
    """The baseline: the same plots, drawing every point, a line per edge, grids always."""
    import app.ui.run_views.curves
    import app.ui.run_views.load

    keep_grid = app.ui.run_views.curves.show_grid
    app.ui.run_views.load.MAX_LINES = app.ui.run_views.curves.MAX_CLIENT_LINES = 10**9
    app.ui.run_views.curves.show_grid = app.ui.run_views.load.show_grid = lambda p, _on: keep_grid(
        p, True
    )
    plots = (
        widget.plots.values()
        if hasattr(widget, "plots")
        else (widget.accuracy, widget.loss, widget.clients)
    )
    for plot in plots:
        plot.setDownsampling(auto=False, ds=1)
        plot.setClipToView(False)


def measure_one(args) -> None:
    """One (view, mode) in this process; prints ms/frame."""
    app = QApplication.instance() or QApplication([])
    view = synthetic_view(args.edges, args.rounds, args.seconds)
    widget = {"device-load": LoadTab, "curves": CurvesTab}[args.view]()
    if args.mode == "every-point":
        plain(widget)
    print(f"{frame_ms(app, widget, view, args.frames):.3f}")
    sys.stdout.flush()
    # pyqtgraph's views and PySide disagree about deletion order at exit; skip the teardown.
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--view", choices=["device-load", "curves"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["downsampled", "every-point"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.view:
        measure_one(args)
    rows = []
    for view_name in ("device-load", "curves"):
        for mode in ("downsampled", "every-point"):
            # Each measurement in a fresh process: the same start for both, no shared caches.
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.plot_refresh",
                    "--view",
                    view_name,
                    "--mode",
                    mode,
                    "--edges",
                    str(args.edges),
                    "--rounds",
                    str(args.rounds),
                    "--seconds",
                    str(args.seconds),
                    "--frames",
                    str(args.frames),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(
                {
                    "view": view_name,
                    "mode": mode,
                    "ms_per_frame": float(out.stdout.strip().splitlines()[-1]),
                }
            )
    print_rows(args, rows, args.edges * args.seconds * 3)
    return 0


def print_rows(args, rows, points) -> None:
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{args.edges} edges x {args.seconds} s of samples ({points:,} points), "
            f"{args.rounds} rounds x {args.edges} clients; live run (last 10 min shown)"
        )
        print(f"{'view':<12} {'mode':<12} {'ms/frame':>9}")
        for r in rows:
            print(f"{r['view']:<12} {r['mode']:<12} {r['ms_per_frame']:>9.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
