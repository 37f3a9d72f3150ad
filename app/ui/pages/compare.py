"""Compare runs: any two aggregate metrics of the selected runs overlaid (test accuracy
and loss by default, federated evaluation too), and a table of what differed between
them: the config values that differ, highlighted, then status, rounds, duration and final
figures side by side. PNG of the plots and CSV of the table, as elsewhere."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.run_views.comparison import comparison, write_csv
from app.ui.run_views.curves import PALETTE, make_plot
from app.ui.run_views.labels import run_label
from app.ui.workers import run_in_background

DIFFERS = QColor("#fff3cd")  # the rows where the runs differ
DEFAULT_METRICS = ("test_accuracy", "test_loss")


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
        self.jobs: dict[int, object] = {}
        self.series: dict[int, dict] = {}
        self.rows: list = []
        self.runs = QListWidget(maximumWidth=300)
        self.runs.itemChanged.connect(lambda _item: self.redraw())
        self.metric_boxes = [QComboBox(), QComboBox()]
        self.plots = [make_plot("", "value"), make_plot("", "value", legend_below=False)]
        controls = QHBoxLayout()
        for n, box in enumerate(self.metric_boxes):
            label = QLabel(["&Upper plot:", "&Lower plot:"][n])
            label.setBuddy(box)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            box.currentTextChanged.connect(lambda _t: self.redraw())
            controls.addWidget(label)
            controls.addWidget(box)
        controls.addStretch(1)
        export_png = QPushButton("Export &PNG…")
        export_png.clicked.connect(self.export_png)
        export_csv = QPushButton("Export CS&V…")
        export_csv.clicked.connect(self.export_csv)
        controls.addWidget(export_png)
        controls.addWidget(export_csv)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.plot_area = QWidget()
        plots = QVBoxLayout(self.plot_area)
        plots.setContentsMargins(0, 0, 0, 0)
        for plot in self.plots:
            plots.addWidget(plot)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot_area)
        split.addWidget(self.table)
        split.setSizes([520, 260])
        left = QVBoxLayout()
        hint = QLabel("&Runs (Space toggles):")
        hint.setBuddy(self.runs)
        left.addWidget(hint)
        left.addWidget(self.runs)
        right = QVBoxLayout()
        right.addLayout(controls)
        right.addWidget(split, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        run_in_background(
            self, load_comparison, self.ctx.services, self.ctx.actor, on_result=self._loaded
        )

    def _loaded(self, result) -> None:
        jobs, self.series = result
        self.jobs = {j.id: j for j in jobs}
        checked = set(self.selected_ids()) or {j.id for j in jobs[:3]}
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
        names = sorted({n for points in self.series.values() for n in points})
        for box, default in zip(self.metric_boxes, DEFAULT_METRICS, strict=True):
            current = box.currentText() or default
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentText(current if current in names else (names[0] if names else ""))
            box.blockSignals(False)
        self.redraw()

    def selected_ids(self) -> list[int]:
        items = (self.runs.item(i) for i in range(self.runs.count()))
        return [
            i.data(Qt.ItemDataRole.UserRole)
            for i in items
            if i.checkState() == Qt.CheckState.Checked
        ]

    def redraw(self) -> None:
        ids = sorted(i for i in self.selected_ids() if i in self.jobs)  # oldest on the left
        for plot, box in zip(self.plots, self.metric_boxes, strict=True):
            plot.clear()
            name = box.currentText()
            plot.setTitle(f"{name.replace('_', ' ')} by round", color="#333", size="10pt")
            for n, job_id in enumerate(ids):
                points = sorted(self.series.get(job_id, {}).get(name, []))
                plot.plot(
                    [r for r, _ in points],
                    [v for _, v in points],
                    name=run_label(self.jobs[job_id]),
                    pen={"color": PALETTE[n % len(PALETTE)], "width": 2},
                )
        self._fill_table([self.jobs[i] for i in ids])

    def _fill_table(self, jobs) -> None:
        self.rows = comparison(jobs, self.series) if jobs else []
        self.table.clear()
        self.table.setColumnCount(1 + len(jobs))
        self.table.setHorizontalHeaderLabels(["", *(run_label(j) for j in jobs)])
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            cells = [row.label, *row.values]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # a long value (a description) is elided in its cell
                if row.differs:
                    item.setBackground(QBrush(DIFFERS))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        for column in range(self.table.columnCount()):
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), 280))

    def export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "compare.png", "PNG (*.png)")
        if path:
            self.plot_area.grab().save(path)

    def export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export comparison", "compare.csv", "CSV (*.csv)"
        )
        if path:
            ids = sorted(i for i in self.selected_ids() if i in self.jobs)
            write_csv([self.jobs[i] for i in ids], self.rows, path)
