"""A tray icon that shows the hub's state and the runs going, and a desktop notification
when a run ends (finished, failed or stopped) while the operator looks elsewhere. Off in
Settings; without a system tray the taskbar entry asks for attention instead."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QSystemTrayIcon

from app.services.runs.events import LiveEvent
from app.ui.dialogs.settings import preferences

ENDED = {"FINISHED": "finished", "FAILED": "failed", "STOPPED": "was stopped"}
GOING = {"STARTING", "RUNNING"}


def notifications_on(data_dir) -> bool:
    return str(preferences(data_dir).value("notify_runs", "true")).lower() == "true"


def describe_end(job_id: int, data: dict) -> tuple[str, str]:
    """The notification's title and text for a run that ended."""
    name = f" {data['name']}" if data.get("name") else ""
    title = f"Run #{job_id}{name} {ENDED[data['status']]}"
    rounds = f"after {data.get('round') or 0} round{'s' if data.get('round') != 1 else ''}"
    if data["status"] == "FINISHED":
        acc = data.get("test_accuracy")
        return title, rounds + (f"; test accuracy {acc:.4f}" if isinstance(acc, float) else "")
    reason = (data.get("reason") or "").strip()
    return title, f"{rounds}: {reason}" if reason else rounds


class RunNotifier(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window, self.ctx = window, window.ctx
        self.sent: list[tuple[str, str]] = []  # what was notified, newest last
        self.hub_state = "starting"
        self.going: set[int] = set()
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            icon = window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
            self.tray = QSystemTrayIcon(icon, self)
            menu = QMenu(window)
            menu.addAction("Show FedDeck", self._show_window)
            menu.addAction("Quit", window.close)
            self.tray.setContextMenu(menu)
            self.tray.activated.connect(lambda _reason: self._show_window())
            self.tray.show()
        self._update_tooltip()
        self.ctx.live.event.connect(self._on_live)

    def tooltip(self) -> str:
        runs = len(self.going)
        going = f"{runs} run{'s' if runs != 1 else ''} going" if runs else "no run going"
        return f"FedDeck — hub: {self.hub_state}; {going}"

    def _update_tooltip(self) -> None:
        if self.tray is not None:
            self.tray.setToolTip(self.tooltip())

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind == "hub":
            self.hub_state = str(event.data.get("state", "?"))
        elif event.kind == "job" and event.job_id is not None:
            status = event.data.get("status")
            if status in GOING:
                self.going.add(event.job_id)
            elif status in ENDED:
                self.going.discard(event.job_id)
                if notifications_on(self.ctx.settings.data_dir):
                    self.notify(*describe_end(event.job_id, event.data))
        else:
            return
        self._update_tooltip()

    def notify(self, title: str, text: str) -> None:
        self.sent.append((title, text))
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10_000)
        else:
            QApplication.alert(self.window)  # the taskbar entry asks for attention

    def _show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
