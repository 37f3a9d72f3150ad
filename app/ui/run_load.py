"""Device load: each edge's CPU, memory, GPU and network over the run."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from app.ui.run_curves import PALETTE, show_grid
from app.ui.run_data import RunView

LIVE_WINDOW_S = 600
# With more edges than this, each panel draws the edges' min-max band and their mean (a
# line per edge would be unreadable, and costs the GUI thread a polyline per edge a frame).
MAX_LINES = 12
BAND_BINS = 400


def band(series: list[tuple[np.ndarray, np.ndarray]], start: float, end: float, bins: int):
    """(times, min, mean, max) across series, each averaged into `bins` time bins first."""
    edges = np.linspace(start, end, bins + 1)
    stack = np.full((len(series), bins), np.nan)
    for row, (t, v) in enumerate(series):
        inside = (t >= start) & (t <= end)
        if not inside.any():
            continue
        idx = np.clip(np.searchsorted(edges, t[inside], side="right") - 1, 0, bins - 1)
        sums = np.bincount(idx, weights=v[inside], minlength=bins)
        counts = np.bincount(idx, minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            stack[row] = np.where(counts > 0, sums / counts, np.nan)
    filled = ~np.all(np.isnan(stack), axis=0)
    centers = ((edges[:-1] + edges[1:]) / 2)[filled]
    held = stack[:, filled]
    return centers, np.nanmin(held, axis=0), np.nanmean(held, axis=0), np.nanmax(held, axis=0)


PANELS = (("cpu", "CPU %"), ("mem", "Memory %"), ("gpu", "GPU %"), ("net", "Network KB/s"))


class LoadTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        self.plots: dict[str, pg.PlotWidget] = {}
        for i, (key, title) in enumerate(PANELS):
            plot = pg.PlotWidget(background="w", axisItems={"bottom": pg.DateAxisItem()})
            plot.setTitle(title, color="#333", size="10pt")
            show_grid(plot, True)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            if key != "net":
                plot.setYRange(0, 100)
            plot.addLegend(offset=(-10, 10), labelTextColor="#333")
            self.plots[key] = plot
            layout.addWidget(plot, i // 2, i % 2)
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._drawn: dict[tuple[str, str], int] = {}  # series version last plotted
        self._bands: dict[str, tuple] = {}  # panel -> (low, mean, high curves)
        self.gpu_note = pg.TextItem(
            "no GPU reported by these edges", color="#777", anchor=(0.5, 0.5)
        )
        self.plots["gpu"].addItem(self.gpu_note)
        self.gpu_note.setPos(0.5, 50)

    def render(self, view: RunView) -> None:
        if len(view.samples) > MAX_LINES:
            self._render_bands(view)
            return
        latest = None
        earliest = min(
            (
                float(ser.t[0])
                for series in view.samples.values()
                for ser in series.values()
                if len(ser)
            ),
            default=None,
        )
        for i, edge in enumerate(sorted(view.samples)):
            color = PALETTE[i % len(PALETTE)]
            for key, _ in PANELS:
                series = view.samples[edge].get("net_sent" if key == "net" else key)
                curve = self._curves.get((edge, key))
                if curve is None:
                    curve = self.plots[key].plot([], [], pen=pg.mkPen(color, width=1), name=edge)
                    self._curves[(edge, key)] = curve
                    self._drawn[(edge, key)] = -1
                if series is None or self._drawn[(edge, key)] == series.version:
                    continue  # unchanged since the last frame
                latest = max(latest or 0.0, float(series.t[-1]))
                self._drawn[(edge, key)] = series.version
                curve.setData(series.t, series.v / 1024 if key == "net" else series.v)
        if view.job.status in ("STARTING", "RUNNING") and latest is not None:
            # Live: follow the last ten minutes; clip-to-view then skips everything older.
            start = max(earliest or latest, latest - LIVE_WINDOW_S)
            for plot in self.plots.values():
                plot.setXRange(start, latest, padding=0.02)
        has_gpu = any(len(view.samples[e].get("gpu", ())) for e in view.samples)
        self.gpu_note.setVisible(not has_gpu)
        if not has_gpu and earliest is not None:
            (x0, x1), _ = self.plots["gpu"].viewRange()
            self.gpu_note.setPos((x0 + x1) / 2, 50)

    def _band_curves(self, key: str) -> tuple:
        if key not in self._bands:
            plot = self.plots[key]
            low = plot.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            high = plot.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush("#d3e1f3"))
            fill.setZValue(-10)  # under the band edges and the mean; opaque: cheaper to paint
            plot.addItem(fill)
            mean = plot.plot([], [], pen=pg.mkPen("#0d47a1", width=2), name="mean (band: min-max)")
            self._bands[key] = (low, mean, high)
        return self._bands[key]

    def _render_bands(self, view: RunView) -> None:
        for plot in self.plots.values():
            show_grid(plot, False)  # a lab-scale live view: smoothness first
        series = {
            key: [
                (s.t, s.v / 1024 if key == "net" else s.v)
                for edge in view.samples.values()
                if (s := edge.get("net_sent" if key == "net" else key)) is not None and len(s)
            ]
            for key, _ in PANELS
        }
        times = [t for pairs in series.values() for t, _ in pairs]
        if not times:
            return
        earliest = min(float(t[0]) for t in times)
        latest = max(float(t[-1]) for t in times)
        live = view.job.status in ("STARTING", "RUNNING")
        start = max(earliest, latest - LIVE_WINDOW_S) if live else earliest
        edges = len(view.samples)
        for key, title in PANELS:
            self.plots[key].setXRange(start, latest, padding=0.02)
            if not series[key]:
                continue
            centers, lo, mean, hi = band(series[key], start, latest or start + 1, BAND_BINS)
            low, mid, high = self._band_curves(key)
            low.setData(centers, lo)
            mid.setData(centers, mean)
            high.setData(centers, hi)
            self.plots[key].setTitle(f"{title} — {edges} edges", color="#333", size="10pt")
        has_gpu = bool(series["gpu"])
        self.gpu_note.setVisible(not has_gpu)
        if not has_gpu:
            self.gpu_note.setPos((start + latest) / 2, 50)
