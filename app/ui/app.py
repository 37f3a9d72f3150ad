"""Start the control center: open the database, sign in, start the hub, show the window."""

from __future__ import annotations

import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QDialog

from app.config import Settings
from app.services import Services
from app.services.runs.control_center import ControlCenter
from app.ui.bridge import LiveBridge
from app.ui.context import UiContext
from app.ui.login_dialog import LoginDialog
from app.ui.main_window import MainWindow
from app.ui.settings_dialog import preferences
from app.ui.workers import run_in_background, wait_for_workers


def apply_theme(app: QApplication, theme: str) -> None:
    app.setStyle("Fusion")
    if theme != "dark":
        return
    palette = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#263238"),
        (QPalette.ColorRole.WindowText, "#eceff1"),
        (QPalette.ColorRole.Base, "#1e272c"),
        (QPalette.ColorRole.AlternateBase, "#2b363c"),
        (QPalette.ColorRole.Text, "#eceff1"),
        (QPalette.ColorRole.Button, "#37474f"),
        (QPalette.ColorRole.ButtonText, "#eceff1"),
        (QPalette.ColorRole.Highlight, "#1e88e5"),
    ):
        palette.setColor(role, QColor(color))
    app.setPalette(palette)


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
    center = ControlCenter(settings, services)
    return UiContext(settings, services, actor, center, LiveBridge(center.events))


def run_app(settings: Settings, start_demo: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("FedDeck")
    apply_theme(app, str(preferences(settings.data_dir).value("theme", "light")))
    # Opening the database is quick (SQLite file, migrations at most once) and must precede
    # the first question the window asks: is this the first run?
    services = Services.open(settings)
    ctx = None
    wake = quit_on_signals(app)  # noqa: F841  (kept alive for the loop)
    try:
        login = LoginDialog(services, first_run=not services.users.has_users())
        if login.exec() != QDialog.DialogCode.Accepted or login.actor is None:
            return 0
        ctx = build_context(settings, services, login.actor)
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
        services.close()
