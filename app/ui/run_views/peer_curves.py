"""The curves a server-free run adds: the spread of the edges' accuracy (a min-max band under
their mean) and a plot of the consensus distance, how far their models are from agreeing."""

from __future__ import annotations

import pyqtgraph as pg

from app.core.algorithms import ALGORITHMS, is_peer
from app.ui.run_views.data import RunView


def is_peer_run(view: RunView) -> bool:
    name = view.job.config_snapshot.get("algorithm", {}).get("name", "fedavg")
    return name in ALGORITHMS and is_peer(name)


class PeerCurves:
    def __init__(self, canvas: pg.GraphicsLayoutWidget, accuracy: pg.PlotItem, style) -> None:
        self.canvas, self.accuracy, self.style = canvas, accuracy, style
        self.consensus: pg.PlotItem | None = None
        self._line = None
        self._band: tuple = ()
        self._drawn: tuple = ()

    def show(self, view: RunView, arrays) -> bool:
        """Draw what `view` adds if it is a server-free run (True), else nothing (False).
        `arrays(points)` gives a series' rounds and values in order."""
        if not is_peer_run(view):
            self.clear()
            return False
        if self.consensus is None:
            self.consensus = self.canvas.addPlot(row=2, col=0, colspan=2)
            self.style(self.consensus, "Consensus distance: sqrt(mean ‖x_i - x̄‖²)", "distance")
            self._line = self.consensus.plot(
                [],
                [],
                pen=pg.mkPen("#6a1b9a", width=2),
                name="edges' models",
                symbolSize=5,
                symbolBrush="#6a1b9a",
                symbolPen=None,
            )
            self.canvas.ci.layout.setRowStretchFactor(2, 2)
        if not self._band:
            low = self.accuracy.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            high = self.accuracy.plot([], [], pen=pg.mkPen("#90a4ae", width=1))
            fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush("#d3e1f3"))
            fill.setZValue(-10)
            self.accuracy.addItem(fill)
            self._band = (low, high, fill)
        figures = [
            view.metrics.get(("aggregate", k), {})
            for k in ("accuracy_min", "accuracy_max", "consensus_distance")
        ]
        drawn = tuple((len(f), next(reversed(f.items()), None)) for f in figures)
        if drawn != self._drawn:
            self._drawn = drawn
            low, high, _ = self._band
            low.setData(*arrays(figures[0]))
            high.setData(*arrays(figures[1]))
            self._line.setData(*arrays(figures[2]))
        return True

    def plots(self) -> list[pg.PlotItem]:
        """The plots it added (their rounds are laid out with the others')."""
        return [self.consensus] if self.consensus is not None else []

    def clear(self) -> None:
        if self.consensus is not None:
            self.canvas.removeItem(self.consensus)
            self.consensus = self._line = None
        for item in self._band:
            self.accuracy.removeItem(item)
        self._band, self._drawn = (), ()
