"""Device load: each edge's CPU, memory, GPU and network over the run."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.ui.run_views.curves import PALETTE, show_grid
from app.ui.run_views.data import LIVE, RunView

LIVE_WINDOW_S = 600
MIN_SPAN_S = 10
LIVE_STEP_S = 30  # a live view moves on in steps: its time labels stay put in between
# With more edges than this, each panel draws the edges' min-max band and their mean (a
# line per edge would be unreadable, and costs the GUI thread a polyline per edge a frame).
MAX_LINES = 12
NOTE_Y = 20  # the "no GPU" note, low in its panel: the legend is at the top right
BAND_BINS = 200  # about three pixels (three seconds live) a bin on a full-screen panel


def band(series: list[tuple[np.ndarray, np.ndarray]], start: float, end: float, bins: int):
    """(times, min, mean, max) across series, each averaged into `bins` time bins first.
    Each series' times ascend (samples arrive in order): the window is a slice of it."""
    width = (end - start) / bins or 1.0
    times, values, rows = [], [], []
    for row, (t, v) in enumerate(series):
        first, last = t.searchsorted(start, "left"), t.searchsorted(end, "right")
        if last > first:
            times.append(t[first:last])
            values.append(v[first:last])
            rows.append((row, last - first))
    if not times:
        empty = np.empty(0)
        return empty, empty, empty, empty
    column = ((np.concatenate(times) - start) / width).astype(np.int64)
    np.clip(column, 0, bins - 1, out=column)
    offsets = np.repeat([row * bins for row, _ in rows], [n for _, n in rows])
    cell, value = column + offsets, np.concatenate(values)
    size = len(series) * bins
    sums = np.bincount(cell, weights=value, minlength=size)
    counts = np.bincount(cell, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        stack = (sums / counts).reshape(len(series), bins)  # NaN where an edge had nothing
    filled = (counts.reshape(len(series), bins) > 0).any(axis=0)
    centers = (start + (np.arange(bins) + 0.5) * width)[filled]
    held = stack[:, filled]
    return centers, np.nanmin(held, axis=0), np.nanmean(held, axis=0), np.nanmax(held, axis=0)


def live_range(earliest: float, latest: float) -> tuple[float, float]:
    """The last ten minutes (or all of a younger run), its right end rounded up to the
    next step with room for the samples to come: the same range frame after frame, until a
    step. Steps grow with the span shown, up to half a minute."""
    span = latest - earliest
    step = LIVE_STEP_S if span >= 300 else 5 if span >= 50 else 1
    end = math.floor(latest / step) * step + step
    return max(earliest, end - LIVE_WINDOW_S), end


def run_span(view: RunView) -> tuple[float, float]:
    """From the run's start (or creation) to its end, or to now while it goes."""
    job = view.job
    start = (job.started_at or job.created_at).timestamp()
    end = job.finished_at.timestamp() if job.finished_at else time.time()
    # Ten seconds at least: the time axis then reads in clock times, not in fractions of a
    # second ("22.250 22.500") for a run of a few seconds.
    return start, max(end, start + MIN_SPAN_S)


PANELS = (("cpu", "CPU %"), ("mem", "Memory %"), ("gpu", "GPU %"), ("net", "Network KB/s"))


class LoadTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        # One canvas for the four panels: a frame is one paint (four plot widgets changing
        # together repainted twice each).
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        QVBoxLayout(self).addWidget(self.canvas)
        for column in (0, 1):
            self.canvas.ci.layout.setColumnStretchFactor(column, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        for i, (key, title) in enumerate(PANELS):
            plot = self.canvas.addPlot(
                row=i // 2, col=i % 2, axisItems={"bottom": pg.DateAxisItem()}
            )
            plot.setTitle(title, color="#333", size="10pt")
            show_grid(plot, True)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            if key != "net":
                plot.setYRange(0, 100)
            plot.addLegend(offset=(-10, 10), labelTextColor="#333")
            self.plots[key] = plot
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._drawn: dict[tuple[str, str], int] = {}  # series version last plotted
        self._bands: dict[str, tuple] = {}  # panel -> (low, mean, high curves)
        self._titles: dict[str, str] = {}
        self._range: tuple[float, float] | None = None
        self._fills: list[tuple[pg.PlotItem, pg.FillBetweenItem]] = []
        self._job_id: int | None = None
        self.gpu_note = pg.TextItem(
            "no GPU reported by these edges", color="#777", anchor=(0.5, 0.5)
        )
        self.plots["gpu"].addItem(self.gpu_note)
        self.gpu_note.setPos(0.5, NOTE_Y)

    def _reset(self) -> None:
        """Another run: nothing of the last one stays (its curves, bands, range, titles)."""
        for key, title in PANELS:
            plot = self.plots[key]
            for item in [*self._curves_of(key), *self._bands.get(key, ())]:
                plot.removeItem(item)
            if plot.legend is not None:
                plot.legend.clear()
            plot.setTitle(title, color="#333", size="10pt")
        for plot, fill in self._fills:
            plot.removeItem(fill)
        self._fills = []
        self._curves, self._drawn, self._bands, self._titles = {}, {}, {}, {}
        self._range = None

    def _curves_of(self, key: str) -> list:
        return [curve for (_edge, k), curve in self._curves.items() if k == key]

    def render(self, view: RunView) -> None:
        if view.job.id != self._job_id:
            self._reset()
            self._job_id = view.job.id
        if view.job.status not in LIVE:  # the run's own span, whatever was sampled
            self._show_range(*run_span(view))
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
        if view.job.status in LIVE:
            # Live: follow the last ten minutes, moved when samples arrive; clip-to-view
            # then skips everything older. Nothing sampled yet: the run's span so far.
            if latest is not None:
                self._show_range(*live_range(earliest or latest, latest))
            elif earliest is None:  # in steps, like the samples' range
                self._show_range(*live_range(run_span(view)[0], time.time()))
        has_gpu = any(len(view.samples[e].get("gpu", ())) for e in view.samples)
        self.gpu_note.setVisible(not has_gpu)
        if not has_gpu:
            (x0, x1), _ = self.plots["gpu"].viewRange()
            self.gpu_note.setPos((x0 + x1) / 2, NOTE_Y)

    def _band_curves(self, key: str) -> tuple:
        if key not in self._bands:
            plot = self.plots[key]
            low = plot.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            high = plot.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush("#d3e1f3"))
            fill.setZValue(-10)  # under the band edges and the mean; opaque: cheaper to paint
            plot.addItem(fill)
            self._fills.append((plot, fill))
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
        live = view.job.status in LIVE
        start, end = live_range(earliest, latest) if live else run_span(view)
        self._show_range(start, end)
        edges = len(view.samples)
        for key, title in PANELS:
            if not series[key]:
                continue
            centers, lo, mean, hi = band(series[key], start, max(end, start + 1), BAND_BINS)
            low, mid, high = self._band_curves(key)
            low.blockSignals(True)  # the fill between them is redrawn once, with the high edge
            low.setData(centers, lo)
            low.blockSignals(False)
            mid.setData(centers, mean)
            high.setData(centers, hi)
            shown = f"{title} — {edges} edges"
            if self._titles.get(key) != shown:  # a new title lays the plot out again
                self._titles[key] = shown
                self.plots[key].setTitle(shown, color="#333", size="10pt")
        has_gpu = bool(series["gpu"])
        self.gpu_note.setVisible(not has_gpu)
        if not has_gpu:
            self.gpu_note.setPos((start + end) / 2, NOTE_Y)

    def _show_range(self, start: float, end: float) -> None:
        """The panels' time range, set only when it moved: each move lays the time axes'
        labels out again."""
        if self._range != (start, end):
            self._range = (start, end)
            for plot in self.plots.values():
                plot.setXRange(start, end, padding=0.02)
