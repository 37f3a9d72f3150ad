"""Start the control center: open the database, sign in, show the window."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QDialog

from app.config import Settings
from app.services import Services
from app.ui.login_dialog import LoginDialog
from app.ui.main_window import MainWindow
from app.ui.workers import wait_for_workers


def run_app(settings: Settings) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("FedDeck")
    # Opening the database is quick (SQLite file, migrations at most once) and must precede
    # the first question the window asks: is this the first run?
    services = Services.open(settings)
    try:
        login = LoginDialog(services, first_run=not services.users.has_users())
        if login.exec() != QDialog.DialogCode.Accepted or login.actor is None:
            return 0
        window = MainWindow(settings, services, login.actor)
        window.show()
        return app.exec()
    finally:
        wait_for_workers()
        services.close()
