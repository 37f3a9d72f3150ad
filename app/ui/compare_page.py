"""Compare runs: overlay the global test accuracy (and loss) of several selected runs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.run_curves import PALETTE, make_plot
from app.ui.workers import run_in_background


def load_comparison(services, actor):
    jobs = [j for j in services.jobs.list(actor) if j.current_round > 0]
    series = {}
    for job in jobs:
        points = {}
        for m in services.run_data.metrics(actor, job.id):
            if m.node == "aggregate":
                points.setdefault(m.name, []).append((m.round, m.value))
        series[job.id] = points
    return jobs, series


class ComparePage(QWidget):
    title = "Compare runs"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.runs = QListWidget(maximumWidth=300)
        self.runs.itemChanged.connect(lambda _item: self.redraw())
        self.accuracy = make_plot("Test accuracy by round", "accuracy")
        self.loss = make_plot("Test loss by round", "loss")
        left = QVBoxLayout()
        hint = QLabel("&Runs (Space toggles):")
        hint.setBuddy(self.runs)
        left.addWidget(hint)
        left.addWidget(self.runs)
        plots = QVBoxLayout()
        plots.addWidget(self.accuracy)
        plots.addWidget(self.loss)
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(plots, 1)
        self.series: dict[int, dict] = {}

    def showEvent(self, event) -> None:
        super().showEvent(event)
        run_in_background(
            self, load_comparison, self.ctx.services, self.ctx.actor, on_result=self._loaded
        )

    def _loaded(self, result) -> None:
        jobs, self.series = result
        checked = {
            self.runs.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.runs.count())
            if self.runs.item(i).checkState() == Qt.CheckState.Checked
        }
        if not checked:
            checked = {j.id for j in jobs[:3]}
        self.runs.blockSignals(True)
        self.runs.clear()
        for job in jobs:
            item = QListWidgetItem(f"#{job.id} {job.name} [{job.status}]")
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if job.id in checked else Qt.CheckState.Unchecked
            )
            self.runs.addItem(item)
        self.runs.blockSignals(False)
        self.redraw()

    def selected_ids(self) -> list[int]:
        items = (self.runs.item(i) for i in range(self.runs.count()))
        return [
            i.data(Qt.ItemDataRole.UserRole)
            for i in items
            if i.checkState() == Qt.CheckState.Checked
        ]

    def redraw(self) -> None:
        for plot in (self.accuracy, self.loss):
            plot.clear()
        for n, job_id in enumerate(self.selected_ids()):
            color = PALETTE[n % len(PALETTE)]
            for plot, name in ((self.accuracy, "test_accuracy"), (self.loss, "test_loss")):
                points = sorted(self.series.get(job_id, {}).get(name, []))
                plot.plot(
                    [r for r, _ in points],
                    [v for _, v in points],
                    name=f"#{job_id}",
                    pen={"color": color, "width": 2},
                )
