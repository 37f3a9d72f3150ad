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
from app.services.entities.records import JobRecord
from app.services.runs.events import LiveEvent
from app.ui.workers import run_in_background

EDGE_STATES = ("IDLE", "TRAINING", "OFFLINE", "ERROR")
JOB_STATES = ("QUEUED", "STARTING", "RUNNING", "FINISHED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class DashboardData:
    edges: Counter
    jobs: Counter
    latest: list[JobRecord]
    accuracy: dict[int, float]


def load_dashboard(services: Services, actor: Actor) -> DashboardData:
    edges = Counter(e.status for e in services.edges.list(actor))
    jobs = services.jobs.list(actor)
    return DashboardData(
        edges=edges,
        jobs=Counter(j.status for j in jobs),
        latest=jobs[:12],
        accuracy=services.run_data.latest_accuracy(actor),
    )


class DashboardPage(QWidget):
    title = "Dashboard"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self._services, self._actor = ctx.services, ctx.actor
        ctx.live.event.connect(self._on_live)
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
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(
            ["Id", "Name", "Project", "Status", "Round", "Accuracy"]
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        layout.addWidget(self.table)
        # Live events mark it stale; the timer reloads at most every 2 s.
        self._stale = True
        self.timer = QTimer(self, interval=2000, timeout=self._maybe_refresh)
        self.timer.start()
        self.refresh()

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind in ("job", "edge", "metric"):
            self._stale = True

    def _maybe_refresh(self) -> None:
        if self._stale and self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        self._stale = False
        if self._loading:
            return
        self._loading = True
        run_in_background(
            self,
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
            acc = data.accuracy.get(job.id)
            cells = [
                job.id,
                job.name,
                job.project,
                job.status,
                f"{job.current_round}/{job.total_rounds}",
                "" if acc is None else f"{acc:.4f}",
            ]
            for c, value in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
