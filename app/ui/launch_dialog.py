"""Launch a run: project, config version, edges (offline ones shown, not selectable), name, tags."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from app.services.entities.records import JobRecord
from app.ui.style import ERROR_STYLE
from app.ui.workers import run_in_background


def _choices(services, actor):
    return (
        services.projects.list(actor),
        services.configs.list(actor, all_versions=True),
        services.edges.list(actor),
    )


class LaunchDialog(QDialog):
    launched = Signal(int)

    def __init__(self, ctx, template: JobRecord | None = None, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.template = ctx, template
        self.setWindowTitle("Clone run" if template else "Launch a run")
        self.project = QComboBox()
        self.config = QComboBox()
        self.edges = QListWidget()
        self.name = QLineEdit(template.name + " (clone)" if template else "")
        self.tags = QLineEdit(", ".join(template.tags) if template else "")
        self.error = QLabel(wordWrap=True, styleSheet=ERROR_STYLE)
        form = QFormLayout()
        form.addRow("&Project", self.project)
        form.addRow("&Config", self.config)
        form.addRow("&Edges", self.edges)
        form.addRow("&Name", self.name)
        form.addRow("&Tags", self.tags)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Start")
        self.buttons.accepted.connect(self._start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(520, 480)
        self.buttons.setEnabled(False)
        run_in_background(
            self, _choices, ctx.services, ctx.actor, on_result=self._fill, on_error=self._failed
        )

    def _fill(self, choices) -> None:
        projects, configs, edges = choices
        for p in projects:
            self.project.addItem(p.name)
        for c in sorted(configs, key=lambda c: (c.name, -c.version)):
            self.config.addItem(f"{c.name}  v{c.version}", (c.name, c.version))
        for e in edges:
            item = QListWidgetItem(f"{e.name}   [{e.status}]")
            item.setData(Qt.ItemDataRole.UserRole, e.name)
            online = e.status in ("IDLE", "TRAINING")
            item.setFlags(
                Qt.ItemFlag.ItemIsUserCheckable
                | (Qt.ItemFlag.ItemIsEnabled if online else Qt.ItemFlag.NoItemFlags)
            )
            chosen = self.template is not None and e.name in self.template.edges
            item.setCheckState(
                Qt.CheckState.Checked
                if online and (chosen or self.template is None)
                else Qt.CheckState.Unchecked
            )
            if not online:
                item.setToolTip(f"{e.name} is {e.status}: it cannot take part now")
            self.edges.addItem(item)
        if self.template is not None:
            self.project.setCurrentText(self.template.project)
            index = self.config.findData((self.template.config_name, self.template.config_version))
            if index >= 0:
                self.config.setCurrentIndex(index)
        if not self.name.text() and configs:
            self.name.setText(f"{self.config.currentData()[0]} run")
        self.buttons.setEnabled(True)

    def checked_edges(self) -> list[str]:
        items = (self.edges.item(i) for i in range(self.edges.count()))
        return [
            i.data(Qt.ItemDataRole.UserRole)
            for i in items
            if i.checkState() == Qt.CheckState.Checked
        ]

    def _start(self) -> None:
        if self.config.currentData() is None:
            self.error.setText("Create a config first (Configs page).")
            return
        name, version = self.config.currentData()
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        ctx = self.ctx
        # Read the widgets here, on the GUI thread; the worker gets plain values.
        job_name, project, edges = (
            self.name.text(),
            self.project.currentText(),
            self.checked_edges(),
        )

        def create_and_start():
            job = ctx.services.jobs.create(ctx.actor, job_name, project, name, edges, version, tags)
            ctx.center.launcher.start(ctx.actor, job.id)
            return job.id

        self.buttons.setEnabled(False)
        run_in_background(self, create_and_start, on_result=self._done, on_error=self._failed)

    def _done(self, job_id: int) -> None:
        self.launched.emit(job_id)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.error.setText(str(exc))
