"""Sign-in at start-up; on a new database it creates the first admin instead."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from app.services import Actor, Services
from app.ui.style import ERROR_STYLE
from app.ui.workers import run_in_background


class LoginDialog(QDialog):
    def __init__(self, services: Services, first_run: bool, parent=None) -> None:
        super().__init__(parent)
        self._services = services
        self._first_run = first_run
        self.actor: Actor | None = None
        self.setWindowTitle("FedDeck — create the admin" if first_run else "FedDeck — sign in")
        intro = (
            "No user exists yet. Create the administrator account."
            if first_run
            else "Sign in to the control center."
        )
        self.name = QLineEdit("admin" if first_run else "")
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.error = QLabel(objectName="error", wordWrap=True)
        self.error.setStyleSheet(ERROR_STYLE)
        form = QFormLayout()
        form.addRow("&User", self.name)
        form.addRow("&Password", self.password)
        if first_run:
            form.addRow("&Repeat", self.repeat)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(intro))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        (self.password if first_run else self.name).setFocus()

    def _submit(self) -> None:
        name, password = self.name.text().strip(), self.password.text()
        if self._first_run and password != self.repeat.text():
            self.error.setText("The passwords differ.")
            return
        self.buttons.setEnabled(False)
        self.error.setText("Checking…")
        run_in_background(
            self,
            _authenticate,
            self._services,
            self._first_run,
            name,
            password,
            on_result=self._done,
            on_error=self._failed,
        )

    def _done(self, actor: Actor) -> None:
        self.actor = actor
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.error.setText(str(exc))


def _authenticate(services: Services, first_run: bool, name: str, password: str) -> Actor:
    if first_run:
        services.users.create_first_admin(name, password)
    return services.users.login(name, password)
