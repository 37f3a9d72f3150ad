"""Dashboard: edges by status, jobs by status, the latest runs. Refreshed off the GUI thread."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services import Actor, Services
from app.services.records import JobRecord
from app.ui.workers import run_in_background

EDGE_STATES = ("IDLE", "TRAINING", "OFFLINE", "ERROR")
JOB_STATES = ("QUEUED", "STARTING", "RUNNING", "FINISHED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class DashboardData:
    edges: Counter
    jobs: Counter
    latest: list[JobRecord]


def load_dashboard(services: Services, actor: Actor) -> DashboardData:
    edges = Counter(e.status for e in services.edges.list(actor))
    jobs = services.jobs.list(actor)
    return DashboardData(edges=edges, jobs=Counter(j.status for j in jobs), latest=jobs[:10])


class DashboardPage(QWidget):
    title = "Dashboard"

    def __init__(self, services: Services, actor: Actor, parent=None) -> None:
        super().__init__(parent)
        self._services, self._actor = services, actor
        self._loading = False
        self.counts: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        row = QGridLayout()
        for col, (title, states) in enumerate((("Edges", EDGE_STATES), ("Jobs", JOB_STATES))):
            box = QGroupBox(title)
            grid = QGridLayout(box)
            for i, state in enumerate(states):
                value = QLabel("-", objectName=f"count_{title.lower()}_{state}")
                value.setStyleSheet("font-size: 20px; font-weight: 600")
                grid.addWidget(value, 0, i)
                grid.addWidget(QLabel(state.title()), 1, i)
                self.counts[f"{title.lower()}:{state}"] = value
            row.addWidget(box, 0, col)
        layout.addLayout(row)
        layout.addWidget(QLabel("Latest runs"))
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Id", "Name", "Project", "Status", "Round"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table)
        self.timer = QTimer(self, interval=3000, timeout=self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        if self._loading:
            return
        self._loading = True
        run_in_background(
            load_dashboard,
            self._services,
            self._actor,
            on_result=self._show,
            on_error=lambda _e: self._done(),
        )

    def _done(self) -> None:
        self._loading = False

    def _show(self, data: DashboardData) -> None:
        self._done()
        for key, label in self.counts.items():
            kind, state = key.split(":")
            label.setText(str((data.edges if kind == "edges" else data.jobs)[state]))
        self.table.setRowCount(len(data.latest))
        for r, job in enumerate(data.latest):
            cells = [
                job.id,
                job.name,
                job.project,
                job.status,
                f"{job.current_round}/{job.total_rounds}",
            ]
            for c, value in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
