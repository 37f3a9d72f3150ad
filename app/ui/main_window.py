"""The main window: a navigation list and a stack of pages from the page registry."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QMainWindow, QStackedWidget, QWidget

from app.config import Settings
from app.services import Actor, Services
from app.ui.dashboard_page import DashboardPage

PAGES = (DashboardPage,)


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, services: Services, actor: Actor) -> None:
        super().__init__()
        self.setWindowTitle("FedDeck")
        self.nav = QListWidget()
        self.nav.setFixedWidth(170)
        self.stack = QStackedWidget()
        for page_type in PAGES:
            page = page_type(services, actor)
            self.nav.addItem(page.title)
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(
            f"Signed in as {actor.name} ({actor.role.value}) · data in {settings.data_dir}"
        )
        self._qsettings = QSettings(
            str(settings.data_dir / "window.ini"), QSettings.Format.IniFormat
        )
        geometry = self._qsettings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 700)

    def closeEvent(self, event) -> None:
        self._qsettings.setValue("geometry", self.saveGeometry())
        super().closeEvent(event)
