"""Device load: each edge's CPU, memory, GPU and network over the run."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from app.ui.run_curves import PALETTE
from app.ui.run_data import RunView

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
        self.gpu_note = pg.TextItem(
            "no GPU reported by these edges", color="#777", anchor=(0.5, 0.5)
        )
        self.plots["gpu"].addItem(self.gpu_note)
        self.gpu_note.setPos(0.5, 50)

    def render(self, view: RunView) -> None:
        for i, edge in enumerate(sorted(view.samples)):
            color = PALETTE[i % len(PALETTE)]
            series = view.samples[edge]
            for key, _ in PANELS:
                if key == "net":
                    sent = series.get("net_sent", [])
                    points = [(t, v / 1024) for t, v in sent]
                else:
                    points = series.get(key, [])
                curve = self._curves.get((edge, key))
                if curve is None:
                    curve = self.plots[key].plot([], [], pen=pg.mkPen(color, width=1.5), name=edge)
                    self._curves[(edge, key)] = curve
                curve.setData([t for t, _ in points], [v for _, v in points])
        has_gpu = any(view.samples[e].get("gpu") for e in view.samples)
        self.gpu_note.setVisible(not has_gpu)
