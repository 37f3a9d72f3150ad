"""Overview: config snapshot, edges, status history and timings."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.fl_config import FLConfig, config_to_toml
from app.ui.run_views.data import RunView
from app.ui.run_views.labels import run_duration, task_label


def _task(job) -> str:
    if not job.task_name:
        return "-"
    return f"{task_label(job)} · SHA-256 {(job.task_sha256 or '')[:16]}…"


class OverviewTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.labels = {
            k: QLabel(textInteractionFlags=QLabel().textInteractionFlags())
            for k in (
                "Run",
                "Status",
                "Project",
                "Config",
                "Task",
                "Edges",
                "Tags",
                "Started by",
                "Created",
                "Started",
                "Finished",
                "Duration",
                "Reason",
            )
        }
        form = QFormLayout()
        for key, label in self.labels.items():
            label.setWordWrap(True)
            form.addRow(f"{key}:", label)
        self.history = QTableWidget(0, 3)
        self.history.setHorizontalHeaderLabels(["Status", "At", "Reason"])
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.verticalHeader().hide()
        self.history.setWordWrap(False)
        self.config = QPlainTextEdit(readOnly=True)
        self.config.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(QLabel("Status history"))
        left.addWidget(self.history)
        right = QVBoxLayout()
        right.addWidget(QLabel("Config snapshot"))
        right.addWidget(self.config)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)
        self._version = None

    def render(self, view: RunView) -> None:
        job = view.job
        key = (job.status, len(job.history), job.current_round)
        if key == self._version:
            return
        self._version = key
        values = {
            "Run": f"#{job.id} {job.name}",
            "Status": f"{job.status} · round {job.current_round}/{job.total_rounds}",
            "Project": job.project,
            "Config": f"{job.config_name} v{job.config_version}",
            "Task": _task(job),
            "Edges": ", ".join(job.edges),
            "Tags": ", ".join(job.tags) or "-",
            "Started by": job.created_by or "-",
            "Created": _t(job.created_at),
            "Started": _t(job.started_at),
            "Finished": _t(job.finished_at),
            "Duration": run_duration(job),
            "Reason": job.status_reason or "-",
        }
        for k, v in values.items():
            self.labels[k].setText(v)
        self.history.setRowCount(len(job.history))
        for r, h in enumerate(job.history):
            for c, value in enumerate((h["status"], h["at"][:19].replace("T", " "), h["reason"])):
                self.history.setItem(r, c, QTableWidgetItem(value))
        self.history.resizeColumnsToContents()
        try:
            self.config.setPlainText(config_to_toml(FLConfig.model_validate(job.config_snapshot)))
        except ValueError:
            self.config.setPlainText(str(job.config_snapshot))


def _t(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
