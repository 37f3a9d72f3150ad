"""The main window: a navigation list and a stack of pages from the page registry."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from app.services.runs.events import LiveEvent
from app.ui.context import UiContext
from app.ui.dialogs.help import ShortcutSheet, add_help_menu
from app.ui.dialogs.settings import SettingsDialog, preferences
from app.ui.notifications import RunNotifier
from app.ui.pages.compare import ComparePage
from app.ui.pages.configs import ConfigsPage
from app.ui.pages.dashboard import DashboardPage
from app.ui.pages.edges import EdgesPage
from app.ui.pages.flows import FlowsPage
from app.ui.pages.jobs import JobsPage
from app.ui.pages.people import ProjectsPage, UsersPage
from app.ui.pages.schedules import SchedulesPage
from app.ui.pages.table_page import TablePage, select_row
from app.ui.pages.tasks import TasksPage
from app.ui.run_views.detail_page import RunDetailPage

# The page registry, in navigation order; Ctrl+1…Ctrl+9, then Ctrl+0, select the first ten,
# Ctrl+PgDown and Ctrl+PgUp step through all of them.
PAGES = (
    DashboardPage,
    JobsPage,
    RunDetailPage,
    ComparePage,
    SchedulesPage,
    FlowsPage,
    EdgesPage,
    TasksPage,
    ConfigsPage,
    ProjectsPage,
    UsersPage,
)


class MainWindow(QMainWindow):
    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("FedDeck")
        self.nav = QListWidget()
        self.nav.setFixedWidth(180)
        self.nav.setStyleSheet(
            "QListWidget { font-size: 13px; } QListWidget::item { padding: 7px 6px; }"
        )
        self.stack = QStackedWidget()
        self.pages: dict[type, QWidget] = {}
        for n, page_type in enumerate(PAGES, start=1):
            page = page_type(ctx)
            self.pages[page_type] = page
            self.nav.addItem(page.title)
            self.stack.addWidget(page)
            if n <= 10:
                go = QAction(self, shortcut=QKeySequence(f"Ctrl+{n % 10}"))
                go.triggered.connect(lambda _=False, row=n - 1: self.go_to(row))
                self.addAction(go)
        for keys, step in (("Ctrl+PgDown", 1), ("Ctrl+PgUp", -1)):
            turn = QAction(self, shortcut=QKeySequence(keys))
            turn.triggered.connect(
                lambda _=False, step=step: self.nav.setCurrentRow(
                    (self.nav.currentRow() + step) % len(PAGES)
                )
            )
            self.addAction(turn)
        if not ctx.can("admin"):
            item = self.nav.item(PAGES.index(UsersPage))
            item.setToolTip("Users & groups: needs the admin role")
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        self.pages[JobsPage].open_run.connect(self.open_run)
        self.pages[DashboardPage].open_run.connect(self.open_run)
        self.pages[DashboardPage].open_page.connect(self.open_page)
        self.pages[FlowsPage].open_run.connect(self.open_run)
        self.pages[EdgesPage].open_run.connect(self.open_run)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self._build_menu()
        self.hub_label = QLabel("hub: starting…")
        self.statusBar().addPermanentWidget(self.hub_label)
        self.user_label = QLabel(f"{ctx.actor.name} ({ctx.actor.role.value})")
        self.statusBar().addPermanentWidget(self.user_label)
        self.statusBar().showMessage(f"Data in {ctx.settings.data_dir}")
        if ctx.center.hub is not None:
            self.set_hub_state(str(ctx.center.hub.state))
        ctx.live.event.connect(self._on_live)
        self.notifier = RunNotifier(self)
        self._prefs = preferences(ctx.settings.data_dir)
        geometry = self._prefs.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)

    def go_to(self, row: int) -> None:
        """A page chosen by its shortcut: the keys go on to its table, its first row
        selected, so that Return, Del or the page's own shortcuts act at once."""
        self.nav.setCurrentRow(row)
        page = self.stack.currentWidget()
        if isinstance(page, TablePage):
            table = page.table
            table.setFocus()
            if not table.selectionModel().hasSelection() and table.model().rowCount():
                select_row(table, 0)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings = file_menu.addAction("&Settings…", self.open_settings)
        # The platform's keys where it has them; Linux desktops often define none.
        settings.setShortcut(QKeySequence.StandardKey.Preferences)
        if settings.shortcut().isEmpty():
            settings.setShortcut(QKeySequence("Ctrl+,"))
        quit_ = file_menu.addAction("&Quit", self.close)
        quit_.setShortcut(QKeySequence.StandardKey.Quit)
        if quit_.shortcut().isEmpty():
            quit_.setShortcut(QKeySequence("Ctrl+Q"))
        run_menu = self.menuBar().addMenu("&Run")
        run_demo = run_menu.addAction("Run the &demo", self.run_demo)
        run_demo.setShortcut(QKeySequence("Ctrl+Shift+R"))
        run_demo.setEnabled(self.ctx.can("operator"))
        launch = run_menu.addAction("&Launch…", lambda: self.pages[JobsPage].launch())
        launch.setEnabled(self.ctx.can("operator"))
        demo = run_menu.addAction(
            "Start local &demo edges…", lambda: self.pages[EdgesPage].start_demo()
        )
        demo.setEnabled(self.ctx.can("operator"))
        add_help_menu(self)

    def show_shortcuts(self) -> None:
        ShortcutSheet(self, [self.pages[p] for p in PAGES], self).open()

    def run_demo(self) -> None:
        from app.ui.workers import run_in_background

        self.statusBar().showMessage("Starting the demo: edge processes, then a FedAvg run…")
        run_in_background(
            self,
            self.ctx.center.start_demo_run,
            self.ctx.actor,
            on_result=self._demo_started,
            on_error=lambda exc: self.statusBar().showMessage(f"Demo failed: {exc}"),
        )

    def _demo_started(self, job_id: int) -> None:
        self.statusBar().showMessage(f"Demo run #{job_id} started", 5000)
        self.open_run(job_id)

    def open_settings(self) -> None:
        SettingsDialog(self.ctx.settings, self).open()

    def open_page(self, title: str) -> None:
        for row, page_type in enumerate(PAGES):
            if page_type.title == title:
                self.nav.setCurrentRow(row)

    def open_run(self, job_id: int) -> None:
        self.nav.setCurrentRow(PAGES.index(RunDetailPage))
        self.pages[RunDetailPage].show_run(job_id)

    def set_hub_state(self, text: str) -> None:
        self.hub_label.setText(f"hub: {text} · {self.ctx.center.hub_url}")

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind == "hub":
            self.set_hub_state(event.data["state"])
        elif event.kind == "storage":  # a full disk, say: shown until the next message
            self.statusBar().showMessage(f"⚠ {event.data['error']}")

    def closeEvent(self, event) -> None:
        self._prefs.setValue("geometry", self.saveGeometry())
        super().closeEvent(event)
