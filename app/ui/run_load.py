"""Device load: each edge's CPU, memory, GPU and network over the run."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from app.ui.run_curves import PALETTE
from app.ui.run_data import RunView

LIVE_WINDOW_S = 600
PANELS = (("cpu", "CPU %"), ("mem", "Memory %"), ("gpu", "GPU %"), ("net", "Network KB/s"))


class LoadTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        self.plots: dict[str, pg.PlotWidget] = {}
        for i, (key, title) in enumerate(PANELS):
            plot = pg.PlotWidget(background="w", axisItems={"bottom": pg.DateAxisItem()})
            plot.setTitle(title, color="#333", size="10pt")
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            if key != "net":
                plot.setYRange(0, 100)
            plot.addLegend(offset=(-10, 10))
            self.plots[key] = plot
            layout.addWidget(plot, i // 2, i % 2)
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._drawn: dict[tuple[str, str], int] = {}  # series version last plotted
        self.gpu_note = pg.TextItem(
            "no GPU reported by these edges", color="#777", anchor=(0.5, 0.5)
        )
        self.plots["gpu"].addItem(self.gpu_note)
        self.gpu_note.setPos(0.5, 50)

    def render(self, view: RunView) -> None:
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
