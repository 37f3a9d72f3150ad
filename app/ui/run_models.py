"""Models: the aggregate and every client update per round; export one to a file."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui.record_model import Bytes, RecordTableModel
from app.ui.run_data import RunView
from app.ui.workers import run_in_background

COLUMNS = [
    ("Run", lambda a: a.run_id),
    ("Round", lambda a: a.round),
    ("Node", lambda a: a.node),
    ("Size", lambda a: Bytes(a.bytes) if a.bytes else None),
    ("SHA-256", lambda a: a.sha256),
]


class ModelsTab(QWidget):
    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = RecordTableModel(COLUMNS, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.caption = QLabel()
        self.message = QLabel()
        export = QPushButton("&Export model…")
        export.clicked.connect(self.export)
        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.message)
        bar.addWidget(export)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self._count = -1

    def render(self, view: RunView) -> None:
        stored = view.artifacts
        self.caption.setText(
            f"Run {view.job.id} · {len(stored)} models "
            f"({sum(1 for a in stored if a.node == 'aggregate')} aggregated)"
        )
        if len(stored) != self._count:
            self._count = len(stored)
            self.model.set_rows(stored)

    def export(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.message.setText("Select a model first.")
            return
        artifact = self.model.record(rows[0].row())
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export model",
            f"run{artifact.run_id}-round{artifact.round}-{artifact.node}.safetensors",
            "safetensors (*.safetensors)",
        )
        if path:
            run_in_background(
                self,
                self.ctx.services.run_data.export_artifact,
                self.ctx.actor,
                artifact.id,
                path,
                on_result=lambda _r: self.message.setText(f"Saved {path} (checksum verified)"),
                on_error=lambda e: self.message.setText(str(e)),
            )
