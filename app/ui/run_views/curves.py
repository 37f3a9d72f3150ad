"""Training curves: the global model's accuracy and loss per round, on the server's test set
and on the edges' validation splits (federated evaluation), and each client's local loss;
for a server-free run, the edges' mean, spread and consensus distance (peer_curves)."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.ui.run_views.data import RunView
from app.ui.run_views.peer_curves import PeerCurves

SYMBOLS_UP_TO = 60  # rounds; longer runs also lose the grid (see show_grid)
# With more clients than this, their plot shows a min-max band and the mean per round; a
# client ticked below is drawn over it (fifty lines at once read as noise, and cost a frame).
MAX_CLIENT_LINES = 12
BAND_POINTS = 300  # about four pixels a point across a full-screen window
PALETTE = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457"]


SAME_SAMPLES = "server test set = edges' validation (the same samples)"
TITLE = "Accuracy of the global model"


def _same_figures(view: RunView, fed_metric: str) -> bool:
    """Whether every round's federated figure equals the server's test figure."""
    fed = view.metrics.get(("aggregate", fed_metric), {})
    test = view.metrics.get(("aggregate", fed_metric.replace("fed_val_", "test_")), {})
    shared = fed.keys() & test.keys()
    # Equal up to float summation order: the edges' figures are averaged by sample count.
    return bool(shared) and all(
        abs(fed[r] - test[r]) <= 1e-6 * max(1.0, abs(test[r])) for r in shared
    )


def make_plot(title: str, y_label: str, legend_below: bool = False) -> pg.PlotWidget:
    """A plot of its own (a widget); see `style_plot`."""
    plot = pg.PlotWidget(background="w")
    style_plot(plot.getPlotItem(), title, y_label, legend_below)
    return plot


def style_plot(plot: pg.PlotItem, title: str, y_label: str, legend_below: bool = False) -> None:
    """Title, labels and a legend in a corner the curves leave free: bottom right for what
    rises (accuracy), top right for what falls (loss)."""
    plot.setTitle(title, color="#333", size="10pt")
    plot.setLabel("bottom", "round")
    plot.setLabel("left", y_label)
    show_grid(plot, True)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.addLegend(offset=(-10, -10) if legend_below else (-10, 10), labelTextColor="#333")


def show_grid(plot: pg.PlotWidget, on: bool) -> None:
    """Grid lines help read small plots; on large live ones pyqtgraph redraws them with every
    range change, which costs more than the data (bench.plot_refresh: 180 -> 50 ms)."""
    if getattr(plot, "_feddeck_grid", None) != on:
        plot.showGrid(x=on, y=on, alpha=0.25)
        plot._feddeck_grid = on


class CurvesTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        # One canvas for the three plots: a frame is one paint, not one per plot (and
        # sibling plots that each repaint twice when they change together).
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.accuracy = self.canvas.addPlot(row=0, col=0)
        self.loss = self.canvas.addPlot(row=0, col=1)
        self.clients = self.canvas.addPlot(row=1, col=0, colspan=2)
        style_plot(self.accuracy, TITLE, "accuracy", legend_below=True)
        style_plot(self.loss, "Loss", "loss")
        style_plot(self.clients, "Clients: local training loss", "loss")
        self.canvas.ci.layout.setRowStretchFactor(0, 3)
        self.canvas.ci.layout.setRowStretchFactor(1, 2)
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._drawn: dict[str, tuple] = {}  # what each curve last plotted
        self._band: tuple = ()  # the clients' band at lab scale: low, mean, high, fill
        self._band_rounds = RoundBand()
        self._x_span = 0
        self._toggles: dict[str, QCheckBox] = {}
        self.peer = PeerCurves(self.canvas, self.accuracy, style_plot)  # a server-free run's
        self._title = TITLE
        # The clients' boxes scroll sideways: fifty of them must not widen the window.
        toggles = QWidget()
        self.toggle_row = QHBoxLayout(toggles)
        self.toggle_row.setContentsMargins(0, 0, 0, 0)
        self.toggle_row.addStretch(1)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(toggles)
        scroll.setFixedHeight(
            QCheckBox("x").sizeHint().height() + scroll.horizontalScrollBar().sizeHint().height()
        )
        export_png = QPushButton("Export &PNG…")
        export_png.clicked.connect(self.export_png)
        export_csv = QPushButton("Export CS&V…")
        export_csv.clicked.connect(self.export_csv)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Clients:"))
        bottom.addWidget(scroll, 1)
        bottom.addWidget(export_png)
        bottom.addWidget(export_csv)
        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(bottom)
        self.view: RunView | None = None

    def _curve(self, plot: pg.PlotWidget, key: str, name: str | None, color: str, width: int = 2):
        if key not in self._curves:
            self._curves[key] = plot.plot(
                [],
                [],
                pen=pg.mkPen(color, width=width),
                name=name,
                symbolSize=5,
                symbolBrush=color,
                symbolPen=None,
            )
        return self._curves[key]

    def _set(self, key: str, curve, points: dict[int, float], small: bool) -> None:
        """Plot `points` (round → value) unless they are what the curve already shows: a
        frame redraws only the series that grew (a point per round, appended in order)."""
        drawn = (len(points), next(reversed(points.items()), None), small)
        if self._drawn.get(key) == drawn:
            return
        self._drawn[key] = drawn
        # Round markers help on short runs; on long ones they cost more than they show.
        curve.setSymbol("o" if small else None)
        x, y = _arrays(points)
        curve.setData(x, y)

    def _merge(self, plot: pg.PlotItem, fed_metric: str) -> None:
        """The edges' validation figures equal the server's test figures (the same samples,
        as in the built-in demo): one line, its legend saying it is both."""
        test_metric = fed_metric.replace("fed_val_", "test_")
        legend = plot.legend  # a PlotItem of the canvas
        fed = self._curves.pop(fed_metric, None)
        if fed is not None:
            plot.removeItem(fed)
            legend.removeItem(fed)
            self._drawn.pop(fed_metric, None)
        test = self._curves.get(test_metric)
        if test is not None and test.name() != SAME_SAMPLES:
            legend.removeItem(test)
            test.opts["name"] = SAME_SAMPLES
            legend.addItem(test, SAME_SAMPLES)

    def _forget_curves(self) -> None:
        """Another run: its clients get their own colours, not the last run's."""
        for plot in (self.accuracy, self.loss, self.clients):
            for item in [*self._curves.values(), *self._band]:
                if item in plot.items:
                    plot.removeItem(item)
        for box in self._toggles.values():  # out of the row now, not at the next loop turn
            self.toggle_row.removeWidget(box)
            box.hide()
            box.deleteLater()
        self._curves, self._toggles, self._drawn, self._band = {}, {}, {}, ()
        self.peer.clear()
        self._band_rounds, self._x_span = RoundBand(), 0

    def render(self, view: RunView) -> None:
        if self.view is not None and self.view.job.id != view.job.id:
            self._forget_curves()
        self.view = view
        small = len(view.metrics.get(("aggregate", "test_accuracy"), {})) <= SYMBOLS_UP_TO
        title, tested = TITLE, "server test set"
        if self.peer.show(view, _arrays):  # the edges' own models on the test set, averaged
            title, tested = "Accuracy of the edges' models: mean, band min-max", "edges' mean"
        elif ("aggregate", "edge_accuracy") in view.metrics:  # FedGKT: two models, both tested
            title = "Accuracy of the server's model and of the edges' own"
            tested = "server model, on the edges' features"
        if self._title != title:
            self._title = title
            self.accuracy.setTitle(title, color="#333", size="10pt")
        plots = [self.accuracy, self.loss, self.clients, *self.peer.plots()]
        span = round_span(view)
        if span != self._x_span:
            # Rounds shown in steps (10, 20, 50, 100, …, the run's last): the round axis is
            # laid out again at each step, not with every round.
            self._x_span = span
            for plot in plots:
                plot.setXRange(1, span, padding=0.02)
        for plot in plots:
            show_grid(plot, small)
        for plot, metric, label, color in (
            (self.accuracy, "test_accuracy", tested, PALETTE[0]),
            (self.accuracy, "edge_accuracy", "edges' own models, test set", PALETTE[4]),
            (self.accuracy, "fed_val_accuracy", "edges' validation", PALETTE[2]),
            (self.loss, "test_loss", tested, PALETTE[1]),
            (self.loss, "fed_val_loss", "edges' validation", PALETTE[3]),
        ):
            points = view.metrics.get(("aggregate", metric), {})
            if metric.startswith("fed_val_") and _same_figures(view, metric):
                self._merge(plot, metric)  # one line, said to be both
                continue
            if points or metric in self._curves:  # a line only for what the run measures
                self._set(metric, self._curve(plot, metric, label, color), points, small)
        nodes = view.nodes()
        # Decided by the run's edges, not the clients heard from so far: a run's first
        # clients to report are not left drawn (and named) over its band.
        banded = max(len(nodes), len(view.job.edges)) > MAX_CLIENT_LINES
        if banded:
            self._render_client_band(view, nodes)
        for i, node in enumerate(nodes):
            color = PALETTE[i % len(PALETTE)]
            key = f"client:{node}"
            # At lab scale the legend names the band, not fifty clients (their boxes do).
            curve = self._curve(self.clients, key, None if banded else node, color, width=1)
            if node not in self._toggles:
                # At lab scale the band shows the clients; a ticked one is drawn over it.
                box = QCheckBox(node, checked=not banded)
                box.setStyleSheet(f"color: {color}")
                box.toggled.connect(lambda on, c=curve: self._toggled(c, on))
                curve.setVisible(not banded)
                self._toggles[node] = box
                self.toggle_row.insertWidget(self.toggle_row.count() - 1, box)
            if curve.isVisible():
                self._set(key, curve, view.metrics.get((node, "train_loss"), {}), small)

    def _toggled(self, curve, on: bool) -> None:
        curve.setVisible(on)
        if on and self.view is not None:
            self.render(self.view)  # a curve hidden in band mode was not kept up to date

    def _render_client_band(self, view: RunView, nodes: list[str]) -> None:
        """The clients' min-max band and mean per round, recomputed when a client's
        series grew."""
        series = {node: view.metrics.get((node, "train_loss"), {}) for node in nodes}
        if not self._band_rounds.fold(series):
            return
        if not self._band:
            low = self.clients.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            high = self.clients.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush("#d3e1f3"))
            fill.setZValue(-10)
            self.clients.addItem(fill)
            mean = self.clients.plot(
                [], [], pen=pg.mkPen("#0d47a1", width=2), name="mean (band: min-max)"
            )
            self._band = (low, mean, high, fill)
        low, mean, high, _ = self._band
        rounds, lo, avg, hi = coarsen(*self._band_rounds.arrays(), BAND_POINTS)
        low.blockSignals(True)  # the fill is redrawn once, with the high edge
        low.setData(rounds, lo)
        low.blockSignals(False)
        high.setData(rounds, hi)
        mean.setData(rounds, avg)

    def export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "curves.png", "PNG (*.png)")
        if path:
            self.grab().save(path)

    def export_csv(self) -> None:
        if self.view is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV (*.csv)")
        if path:
            write_metrics_csv(self.view, path)


def round_span(view: RunView) -> int:
    """The last round the curves' axis shows: the next of 10, 20, 50, 100, 200, 500, …
    after the latest round, but not past the run's last."""
    latest = max((next(reversed(p)) for p in view.metrics.values() if p), default=0)
    span = 10
    while span <= latest:
        span = span * 5 // 2 if str(span)[0] == "2" else span * 2
    total = view.job.total_rounds
    return max(2, min(span, total) if total and total >= latest else span)


def coarsen(x, low, mean, high, points: int):
    """At most `points` per band: neighbouring rounds merged (the lowest low, the highest
    high, the mean of means), so a long run's band costs what a short one's does."""
    group = -(-len(x) // points)
    if group <= 1:
        return x, low, mean, high
    pad = (-len(x)) % group

    def grouped(a: np.ndarray, fill: float) -> np.ndarray:
        return np.concatenate([a, np.full(pad, fill)]).reshape(-1, group)

    with np.errstate(invalid="ignore"):
        return (
            np.nanmean(grouped(x, np.nan), axis=1),
            grouped(low, np.inf).min(axis=1),
            np.nanmean(grouped(mean, np.nan), axis=1),
            grouped(high, -np.inf).max(axis=1),
        )


def _arrays(points: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Rounds and values in round order (they arrive in order; a reload may not)."""
    x = np.fromiter(points.keys(), float, len(points))
    y = np.fromiter(points.values(), float, len(points))
    if len(x) > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    return x, y


class RoundBand:
    """Min, mean and max across clients per round, folded in as their points arrive: a
    frame adds the round's new points, not every point of every client again."""

    def __init__(self) -> None:
        self.rows: dict[int, list[float]] = {}  # round -> [min, sum, count, max]
        self._seen: dict[str, tuple[int, tuple | None]] = {}  # node -> (points, last)

    def fold(self, series: dict[str, dict[int, float]]) -> bool:
        """Fold what is new in each node's points (round → value); True if anything was.
        A series that changed other than by growing is folded again from the start."""
        changed = False
        for node, points in series.items():
            done, last = self._seen.get(node, (0, None))
            now = (len(points), next(reversed(points.items()), None))
            if now == (done, last):
                continue
            changed = True
            if len(points) < done or (last is not None and points.get(last[0]) != last[1]):
                self.__init__()
                return self.fold(series) or True
            for rnd, value in itertools.islice(points.items(), done, None):
                row = self.rows.get(rnd)
                if row is None:
                    self.rows[rnd] = [value, value, 1, value]
                else:
                    row[0], row[3] = min(row[0], value), max(row[3], value)
                    row[1] += value
                    row[2] += 1
            self._seen[node] = now
        return changed

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rounds, min, mean, max), in round order."""
        rounds = np.fromiter(self.rows, float, len(self.rows))
        table = np.array(list(self.rows.values()), dtype=float).reshape(-1, 4)
        order = np.argsort(rounds, kind="stable")
        rounds, table = rounds[order], table[order]
        return rounds, table[:, 0], table[:, 1] / table[:, 2], table[:, 3]


def write_metrics_csv(view: RunView, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["job_id", "round", "node", "metric", "value"])
        for (node, name), points in sorted(view.metrics.items()):
            for rnd, value in sorted(points.items()):
                out.writerow([view.job.id, rnd, node, name, value])
