"""Write a flow in TOML with the steps drawn as you type; errors name the step and field."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
)

from app.errors import FedDeckError
from app.services.automation.flow_definitions import flow_from_toml
from app.ui.widgets.flow_graph import FlowGraph
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background

NEW_FLOW = """name = "my-flow"
description = "train, then fine-tune from its model if it is good enough"

[[steps]]
name = "train"
retries = 1
job = { project = "demo", config = "digits-mlp-fedavg", edge_tag = "demo" }

[[steps]]
name = "finetune"
depends_on = ["train"]
condition = { min_accuracy = 0.8 }
job = { project = "demo", config = "digits-mlp-finetune", edge_tag = "demo", init_from = "train" }
"""


class FlowEditor(QDialog):
    saved = Signal(object)

    def __init__(self, ctx, text: str | None = None, editing: str | None = None, parent=None):
        super().__init__(parent)
        self.ctx, self.editing = ctx, editing
        self.setWindowTitle(f"Edit flow {editing}" if editing else "New flow")
        self.text = QPlainTextEdit(text or NEW_FLOW)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setTabChangesFocus(True)  # keyboard users can leave the editor with Tab
        self.graph = FlowGraph()
        self.error = QLabel(wordWrap=True, styleSheet=ERROR_STYLE)
        split = QSplitter()
        split.addWidget(self.text)
        split.addWidget(self.graph)
        split.setSizes([520, 380])
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.text.textChanged.connect(self.check)
        self.resize(980, 560)
        self.check()

    def check(self) -> bool:
        """Parse and draw (pure: no database); references are checked on save."""
        try:
            flow = flow_from_toml(self.text.toPlainText(), "flow")
        except FedDeckError as exc:
            self.error.setText(str(exc))
            return False
        self.error.clear()
        self.graph.set_steps([{"step": s.name, "depends_on": s.depends_on} for s in flow.steps])
        return True

    def _save(self) -> None:
        if not self.check():
            return
        save = partial(
            self.ctx.services.flows.save_toml,
            self.ctx.actor,
            self.text.toPlainText(),
            "flow",
            self.editing is not None,
        )
        self.buttons.setEnabled(False)
        run_in_background(self, save, on_result=self._done, on_error=self._failed)

    def _done(self, record) -> None:
        self.saved.emit(record)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.error.setText(str(exc))
