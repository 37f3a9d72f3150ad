"""Help: the keyboard-shortcut sheet (F1), read from the window's own actions so it can
never drift from what the keys do; About; where the documentation is."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import __version__

DOCS = Path(__file__).resolve().parents[3]  # README.md and docs/ of a source checkout
NATIVE = QKeySequence.SequenceFormat.NativeText


def shortcuts_of(widget: QWidget) -> list[tuple[str, str]]:
    """(keys, what) for every action of `widget` (its toolbars' too) with a shortcut."""
    out = []
    for action in dict.fromkeys(widget.findChildren(QAction)):
        keys = action.shortcut().toString(NATIVE)
        text = action.text().replace("&", "")
        if keys and text:
            out.append((keys, text + ("" if action.isEnabled() else " (not for your role)")))
    return out


def menu_shortcuts(window) -> list[tuple[str, str]]:
    out = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        for action in menu.actions() if menu else []:
            keys = action.shortcut().toString(NATIVE)
            if keys:
                name = f"{menu_action.text().replace('&', '')} ▸ {action.text().replace('&', '')}"
                out.append((keys, name))
    return out


class ShortcutSheet(QDialog):
    """Every shortcut, by where it works; type to filter."""

    def __init__(self, window, pages: list[QWidget], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.filter = QLineEdit(placeholderText="Filter (e.g. launch, Ctrl+L)")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Keys", "Does"])
        self.tree.setRootIsDecorated(False)
        groups = [("Everywhere", menu_shortcuts(window) + _navigation(window))]
        groups += [(page.title, shortcuts_of(page)) for page in pages]
        groups.append(("Lists", [("Ctrl+F", "search the list"), ("Enter", "open the row")]))
        for title, entries in groups:
            if not entries:
                continue
            head = QTreeWidgetItem([title])
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(head)
            for keys, text in entries:
                self.tree.addTopLevelItem(QTreeWidgetItem([keys, text]))
        self.tree.resizeColumnToContents(0)
        self.filter.textChanged.connect(self._filter)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self.resize(520, 620)

    def entries(self) -> list[tuple[str, str]]:
        """What the sheet lists (visible rows), for tests and the filter."""
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return [(i.text(0), i.text(1)) for i in items if i.text(1) and not i.isHidden()]

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(1):  # a shortcut row; group heads stay
                hay = f"{item.text(0)} {item.text(1)}".lower()
                item.setHidden(bool(needle) and needle not in hay)


def _navigation(window) -> list[tuple[str, str]]:
    out = []
    for action in window.actions():
        keys = action.shortcut().toString(NATIVE)
        if keys.startswith("Ctrl+") and keys[5:].isdigit():
            page = window.nav.item((int(keys[5:]) - 1) % 10).text()
            out.append((keys, f"go to {page}"))
    return [*out, ("Ctrl+PgDown / Ctrl+PgUp", "next / previous page")]


def show_about(parent) -> None:
    QMessageBox.about(
        parent,
        "About FedDeck",
        f"<h3>FedDeck {__version__}</h3>"
        "<p>A desktop control center for federated learning: your model and training "
        "code, trained on the data that stays on each edge.</p>"
        f"<p>Python {platform.python_version()} · PySide6 {pyside_version}</p>"
        f"<p>Data: {parent.ctx.settings.data_dir}<br>"
        f"Database: {parent.ctx.settings.db_url.split('@')[-1]}<br>"
        f"Hub: {parent.ctx.center.hub_url}</p>",
    )


def docs_file(name: str) -> Path | None:
    path = DOCS / name
    return path if path.is_file() else None


def open_docs(name: str) -> bool:
    path = docs_file(name)
    return path is not None and QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def add_help_menu(window) -> QAction:
    """Help ▸ Keyboard shortcuts (F1), the docs (if this install has them), About."""
    menu = window.menuBar().addMenu("&Help")
    sheet = menu.addAction("&Keyboard shortcuts", window.show_shortcuts)
    sheet.setShortcut(QKeySequence.StandardKey.HelpContents)
    menu.addSeparator()
    for title, name in (
        ("&Guide (README)", "README.md"),
        ("&Operating: edges, schedules, flows, exports", "docs/operations.md"),
        ("&Command line", "docs/cli.md"),
        ("&Tasks: your own model and code", "docs/tasks.md"),
        ("A&lgorithms", "docs/algorithms.md"),
        ("&Security and failures", "docs/security.md"),
        ("&Architecture", "docs/architecture.md"),
    ):
        action = menu.addAction(title, lambda name=name: open_docs(name))
        if docs_file(name) is None:
            action.setEnabled(False)
            action.setToolTip("not in this install; see the project's documentation")
    menu.addSeparator()
    menu.addAction("&About FedDeck", lambda: show_about(window))
    return sheet
