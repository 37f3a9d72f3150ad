"""Uncaught exceptions in the window: logged with their traceback (the data dir's
`logs/window.log`, and stderr) and shown to the person at the window, who would otherwise
see nothing happen. The window goes on."""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("app.ui")


def window_log(data_dir: Path) -> Path:
    return data_dir / "logs" / "window.log"


def install(data_dir: Path) -> None:
    """Log the window's warnings and errors to its file, and report uncaught exceptions."""
    path = window_log(data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=2 << 20, backupCount=2, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        logging.getLogger().addHandler(handler)
    except OSError as exc:  # a read-only data dir: stderr still has it
        log.warning("cannot write the window's log %s: %s", path, exc)
    sys.excepthook = lambda kind, value, tb: report(kind, value, tb, path)


def report(kind, value, tb, log_file: Path | None = None) -> QMessageBox | None:
    """Log the exception and show it; returns the message box shown (None: not shown)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return None
    log.error("uncaught %s in the window", kind.__name__, exc_info=(kind, value, tb))
    if QApplication.instance() is None:
        return None
    where = f"\n\nThe details are in {log_file}." if log_file else ""
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "FedDeck: something went wrong",
        f"{kind.__name__}: {value}\n\nThe window goes on; what you were doing may not have "
        f"finished.{where}",
        QMessageBox.StandardButton.Ok,
        QApplication.activeWindow(),
    )
    box.open()  # not modal to the event loop: a report never blocks the window
    return box
