"""Start the control center: open the database, sign in, start the hub, show the window."""

from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

from app.config import Settings
from app.ui import crash_report
from app.ui.dialogs.login import LoginDialog
from app.ui.dialogs.settings import preferences
from app.ui.startup_trace import trace_first_paint
from app.ui.widgets.theme import apply_theme
from app.ui.workers import run_in_background, wait_for_workers

if TYPE_CHECKING:  # loaded behind the sign-in dialog, so that it shows at once
    from app.services import Services
    from app.ui.context import UiContext


def quit_on_signals(app: QApplication) -> QTimer:
    """SIGTERM (a logout, a service manager) and SIGINT end the window the way File ▸ Quit
    does, so the edges it started stop with it. Python runs signal handlers only between
    bytecodes: the returned timer wakes it while Qt's loop waits."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer


def build_context(settings: Settings, services: Services, actor) -> UiContext:
    from app.services.runs.control_center import ControlCenter
    from app.ui.bridge import LiveBridge
    from app.ui.context import UiContext

    center = ControlCenter(settings, services)
    return UiContext(settings, services, actor, center, LiveBridge(center.events))


def open_for_sign_in(settings: Settings) -> tuple[Services, bool]:
    """On a worker while the sign-in dialog shows: the database opened (migrated at most
    once), whether it has users yet; then what the main window imports, loaded meanwhile."""
    from app.services import Services

    services = Services.open(settings)
    first_run = not services.users.has_users()
    threading.Thread(target=_preload_window_modules, name="preload", daemon=True).start()
    return services, first_run


def _preload_window_modules() -> None:
    """The main window's modules and the control center's (pages, pyqtgraph, hubs, ingest)
    load while the user types: their import makes classes, no widgets, so a thread may do
    it. An import that fails here fails again, with its traceback, where it is used."""
    import importlib

    for module in ("app.services.runs.control_center", "app.ui.main_window"):
        try:
            importlib.import_module(module)
        except Exception:
            return


def run_app(settings: Settings, start_demo: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("FedDeck")
    crash_report.install(settings.data_dir)
    apply_theme(app, str(preferences(settings.data_dir).value("theme", "light")))
    ctx = None
    wake = quit_on_signals(app)  # noqa: F841  (kept alive for the loop)
    login = LoginDialog.opening(lambda: open_for_sign_in(settings))
    trace_first_paint(login)
    try:
        if login.exec() != QDialog.DialogCode.Accepted or login.actor is None:
            return 0
        from app.ui.main_window import MainWindow

        ctx = build_context(settings, login.services, login.actor)
        window = MainWindow(ctx)
        window.show()
        run_in_background(
            window,
            ctx.center.start,
            on_result=lambda _c: window.set_hub_state("connected"),
            on_error=lambda exc: window.set_hub_state(f"not started ({exc})"),
        )
        return app.exec()
    finally:
        wait_for_workers()
        if ctx is not None:
            ctx.live.close()
            ctx.center.close()
        if login.services is not None:
            login.services.close()
