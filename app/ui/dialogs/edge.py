"""Register an edge; its token is shown once, with a copy button."""

from __future__ import annotations

from urllib.parse import urlparse

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from app.config import EDGE_TOKEN_ENV
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background


def agent_hint(hub_url: str, name: str) -> str:
    """How to start the agent, and whether another device can reach this hub at all."""
    command = f"{EDGE_TOKEN_ENV}=<token> feddeck edge --hub {hub_url} --name {name}"
    text = (
        f"This token is shown only now. Start the agent on the device with:\n{command}\n"
        "(add --trust-center and this center's fingerprint to let it run tasks of your own)"
    )
    host = urlparse(hub_url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        text += (
            f"\n\nThis hub listens on {host}, this machine only: that command works for an "
            "agent on this machine. For another device, serve a hub it can reach (Settings ▸ "
            "hub URL, or `feddeck hub --grpc 0.0.0.0:50051`) and give the agent that address."
        )
    return text


class RegisterEdgeDialog(QDialog):
    registered = Signal(object)

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Register an edge")
        self.name = QLineEdit(placeholderText="e.g. lab-pi-3")
        self.tags = QLineEdit(placeholderText="comma-separated, e.g. arm,lab")
        self.name_error = QLabel(styleSheet=ERROR_STYLE)
        self.token = QLineEdit(readOnly=True)
        self.copy = QPushButton("&Copy", enabled=False)
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.token.text()))
        self.hint = QLabel(wordWrap=True)
        form = QFormLayout()
        form.addRow("&Name", self.name)
        form.addRow("", self.name_error)
        form.addRow("&Tags", self.tags)
        row = QHBoxLayout()
        row.addWidget(self.token, 1)
        row.addWidget(self.copy)
        form.addRow("Token", row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Register")
        self.buttons.accepted.connect(self._register)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self.resize(560, 0)

    def _register(self) -> None:
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        self.buttons.setEnabled(False)
        run_in_background(
            self,
            self.ctx.services.edges.register,
            self.ctx.actor,
            self.name.text().strip(),
            tags,
            on_result=self._done,
            on_error=self._failed,
        )

    def _done(self, new) -> None:
        self.buttons.setEnabled(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.name_error.clear()
        self.token.setText(new.token)
        self.copy.setEnabled(True)
        self.copy.setFocus()
        self.hint.setText(agent_hint(self.ctx.center.hub_url, new.edge.name))
        self.registered.emit(new)

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.name_error.setText(str(exc))
        self.name.setFocus()
