"""Sign-in at start-up; on a new database it creates the first admin instead.

The dialog shows at once and opens the database behind it (`LoginDialog.opening`): the
form asks for what the database says it needs (a sign-in, or the first admin) as soon as
the database answers, and the window never waits on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background

if TYPE_CHECKING:
    from app.services import Actor, Services


class LoginDialog(QDialog):
    def __init__(self, services: Services | None, first_run: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.services = services
        self._first_run = first_run
        self.actor: Actor | None = None
        self.intro = QLabel(wordWrap=True)
        self.name = QLineEdit()
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.error = QLabel(objectName="error", wordWrap=True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.form = QFormLayout()
        self.form.addRow("&User", self.name)
        self.form.addRow("&Password", self.password)
        self.form.addRow("&Repeat", self.repeat)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(360)
        if services is not None:
            self._ready(services, first_run)

    @classmethod
    def opening(cls, open_services: Callable[[], tuple[Services, bool]]) -> LoginDialog:
        """A dialog that opens the database on a worker: `open_services()` returns the
        services and whether this is the first run (no user yet)."""
        dialog = cls(None)
        dialog.setWindowTitle("FedDeck — opening the database")
        dialog.intro.setText("Opening the database…")
        for field in (dialog.name, dialog.password, dialog.repeat):
            field.setEnabled(False)
        dialog.form.setRowVisible(dialog.repeat, False)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        run_in_background(
            dialog,
            open_services,
            on_result=lambda opened: dialog._ready(*opened),
            on_error=dialog._not_opened,
        )
        return dialog

    def _ready(self, services: Services, first_run: bool) -> None:
        self.services, self._first_run = services, first_run
        self.setWindowTitle("FedDeck — create the admin" if first_run else "FedDeck — sign in")
        self.intro.setText(
            "No user exists yet. Create the administrator account."
            if first_run
            else "Sign in to the control center."
        )
        if first_run and not self.name.text():
            self.name.setText("admin")
        for field in (self.name, self.password, self.repeat):
            field.setEnabled(True)
        self.form.setRowVisible(self.repeat, first_run)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        (self.password if first_run else self.name).setFocus()

    def _not_opened(self, exc: Exception) -> None:
        self.setWindowTitle("FedDeck — the database could not be opened")
        self.intro.setText("The database could not be opened.")
        self.error.setText(str(exc))

    def _submit(self) -> None:
        if self.services is None:
            return
        name, password = self.name.text().strip(), self.password.text()
        if self._first_run and password != self.repeat.text():
            self.error.setText("The passwords differ.")
            return
        self.buttons.setEnabled(False)
        self.error.setText("Checking…")
        run_in_background(
            self,
            _authenticate,
            self.services,
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
