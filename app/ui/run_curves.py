"""Training curves: the global model's accuracy and loss per round, on the server's test set
and on the edges' validation splits (federated evaluation), and each client's local loss."""

from __future__ import annotations

import csv

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.run_data import RunView

SYMBOLS_UP_TO = 60  # rounds; longer runs also lose the grid (see show_grid)
PALETTE = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457"]


def make_plot(title: str, y_label: str, legend_below: bool = False) -> pg.PlotWidget:
    """A plot with its legend in a corner the curves leave free: bottom right for what
    rises (accuracy), top right for what falls (loss)."""
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color="#333", size="10pt")
    plot.setLabel("bottom", "round")
    plot.setLabel("left", y_label)
    show_grid(plot, True)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.addLegend(offset=(-10, -10) if legend_below else (-10, 10), labelTextColor="#333")
    return plot


def show_grid(plot: pg.PlotWidget, on: bool) -> None:
    """Grid lines help read small plots; on large live ones pyqtgraph redraws them with every
    range change, which costs more than the data (bench.plot_refresh: 180 -> 50 ms)."""
    if getattr(plot, "_feddeck_grid", None) != on:
        plot.showGrid(x=on, y=on, alpha=0.25)
        plot._feddeck_grid = on


class CurvesTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.accuracy = make_plot("Accuracy of the global model", "accuracy", legend_below=True)
        self.loss = make_plot("Loss", "loss")
        self.clients = make_plot("Clients: local training loss", "loss")
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._toggles: dict[str, QCheckBox] = {}
        self.toggle_row = QHBoxLayout()
        self.toggle_row.addWidget(QLabel("Clients:"))
        self.toggle_row.addStretch(1)
        export_png = QPushButton("Export &PNG…")
        export_png.clicked.connect(self.export_png)
        export_csv = QPushButton("Export CS&V…")
        export_csv.clicked.connect(self.export_csv)
        self.toggle_row.addWidget(export_png)
        self.toggle_row.addWidget(export_csv)
        top = QHBoxLayout()
        top.addWidget(self.accuracy)
        top.addWidget(self.loss)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 3)
        layout.addWidget(self.clients, 2)
        layout.addLayout(self.toggle_row)
        self.view: RunView | None = None

    def _curve(self, plot: pg.PlotWidget, key: str, name: str, color: str, width: int = 2):
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

    @staticmethod
    def _set(curve, x, y) -> None:
        # Round markers help on short runs; on long ones they cost more than they show.
        curve.setSymbol("o" if len(x) <= SYMBOLS_UP_TO else None)
        curve.setData(x, y)

    def _forget_curves(self) -> None:
        """Another run: its clients get their own colours, not the last run's."""
        for plot in (self.accuracy, self.loss, self.clients):
            for curve in self._curves.values():
                if curve in plot.listDataItems():
                    plot.removeItem(curve)
        for box in self._toggles.values():
            box.deleteLater()
        self._curves, self._toggles = {}, {}

    def render(self, view: RunView) -> None:
        if self.view is not None and self.view.job.id != view.job.id:
            self._forget_curves()
        self.view = view
        x, y = view.series("aggregate", "test_accuracy")
        small = len(x) <= SYMBOLS_UP_TO
        for plot in (self.accuracy, self.loss, self.clients):
            show_grid(plot, small)
        for plot, metric, label, color in (
            (self.accuracy, "test_accuracy", "server test set", PALETTE[0]),
            (self.accuracy, "fed_val_accuracy", "edges' validation", PALETTE[2]),
            (self.loss, "test_loss", "server test set", PALETTE[1]),
            (self.loss, "fed_val_loss", "edges' validation", PALETTE[3]),
        ):
            x, y = view.series("aggregate", metric)
            if len(x) or metric in self._curves:  # a line only for what the run measures
                self._set(self._curve(plot, metric, label, color), x, y)
        for i, node in enumerate(view.nodes()):
            color = PALETTE[i % len(PALETTE)]
            x, y = view.series(node, "train_loss")
            curve = self._curve(self.clients, f"client:{node}", node, color, width=1)
            self._set(curve, x, y)
            if node not in self._toggles:
                box = QCheckBox(node, checked=True)
                box.setStyleSheet(f"color: {color}")
                box.toggled.connect(curve.setVisible)
                self._toggles[node] = box
                self.toggle_row.insertWidget(self.toggle_row.count() - 3, box)

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


def write_metrics_csv(view: RunView, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["run_id", "round", "node", "metric", "value"])
        for (node, name), points in sorted(view.metrics.items()):
            for rnd, value in sorted(points.items()):
                out.writerow([view.job.id, rnd, node, name, value])
