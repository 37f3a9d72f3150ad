"""A page that lists records: search box, sortable table, a toolbar of actions.

Subclasses give `title`, `columns` and `query()`, and add actions. `query()` runs on the
GUI thread, reads the page's filters and returns the call that loads the rows; only that
call runs on a worker thread, and it hands back the rows and the filters' choices together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.ui.context import UiContext
from app.ui.dialogs.simple import FormDialog, line
from app.ui.widgets.record_model import SORT_ROLE, RecordTableModel, SourceSortingProxy
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background


@dataclass(frozen=True)
class Listing:
    """What a page's query returns: its rows, and the values each of its filters offers."""

    rows: list[Any]
    choices: dict[str, list[str]] = field(default_factory=dict)


def _listing(load: Callable[[], Listing | list[Any]]) -> Listing:
    result = load()
    return result if isinstance(result, Listing) else Listing(list(result))


def select_row(view: QAbstractItemView, row: int, keep: bool = False) -> None:
    """Select a whole row whatever keys are held (QTableView.selectRow would toggle or
    extend the selection while Ctrl or Shift is down)."""
    flags = QItemSelectionModel.SelectionFlag.Rows | (
        QItemSelectionModel.SelectionFlag.Select
        if keep
        else QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    index = view.model().index(row, 0)
    view.selectionModel().select(index, flags)
    view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)


class TablePage(QWidget):
    title = ""
    columns: list = []
    min_role = "viewer"
    # How a page opens: by its first column, A→Z (a page may say newest first). The
    # header's arrow is set from it, so what it shows is how the rows are sorted.
    default_sort = (0, Qt.SortOrder.AscendingOrder)

    def __init__(self, ctx: UiContext, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._loading = self._again = False
        self.model = RecordTableModel(self.columns, self, key=self._key)
        self.proxy = SourceSortingProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.search = QLineEdit(placeholderText="Search (Ctrl+F)", clearButtonEnabled=True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        find = QAction(self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(self.search.setFocus)
        self.addAction(find)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.horizontalHeader().setSortIndicator(*self.default_sort)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Fit columns to the rows on screen and a few more, not to a thousand rows.
        self.table.horizontalHeader().setResizeContentsPrecision(50)
        self.table.doubleClicked.connect(lambda _index: self.activated())
        self.toolbar = QToolBar()
        self.status = QLabel()
        self.status.setStyleSheet(ERROR_STYLE)
        top = QHBoxLayout()
        top.addWidget(self.toolbar, 1)
        top.addWidget(self.search)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        refresh = self.add_action(
            "Refresh", self.refresh, shortcut=QKeySequence.StandardKey.Refresh
        )
        refresh.setToolTip("Reload from the database (F5)")

    def add_action(self, text: str, slot, shortcut=None, needs: str | None = None) -> QAction:
        """A toolbar action; `needs` is the role it requires (disabled with a reason if not)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        if shortcut is not None:
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{text} ({keys})")
        if needs is not None and not self.ctx.can(needs):
            action.setEnabled(False)
            action.setToolTip(
                f"{text}: needs the {needs} role (you are {self.ctx.actor.role.value})"
            )
        self.toolbar.addAction(action)
        return action

    # -- loading ----------------------------------------------------------------------------
    def query(self) -> Callable[[], Listing | list[Any]]:
        """GUI thread: the call that loads the rows as the filters stand now. It runs on a
        worker thread, so it must not touch widgets."""
        raise NotImplementedError

    def refresh(self) -> None:
        if self._loading:  # the filters may have changed since that load began: load again
            self._again = True
            return
        self._loading, self._again = True, False
        run_in_background(
            self, _listing, self.query(), on_result=self._loaded, on_error=self._failed
        )

    def _loaded(self, listing: Listing) -> None:
        self._loading = False
        self.show_rows(listing.rows)
        self.show_choices(listing.choices)
        if self._again:
            self.refresh()

    def show_choices(self, choices: dict[str, list[str]]) -> None:
        """The filters' values as the last load found them; pages with filters override."""

    def show_rows(self, rows: list[Any]) -> None:
        selected = {self._key(r) for r in self.selected()}
        first = not self.model.rows
        if not self.model.set_rows(rows):  # the same rows, repainted: selection kept
            self.status.clear()
            return
        if first:
            self.table.resizeColumnsToContents()
        else:  # widen what new values no longer fit (never narrow what a person resized)
            for column in range(self.model.columnCount() - 1):
                wanted = min(self.table.sizeHintForColumn(column), 400)
                if wanted > self.table.columnWidth(column):
                    self.table.setColumnWidth(column, wanted)
        self.status.clear()
        for row in range(self.proxy.rowCount()):
            source = self.proxy.mapToSource(self.proxy.index(row, 0))
            if self._key(self.model.record(source.row())) in selected:
                select_row(self.table, row, keep=True)
        if not selected and self.table.hasFocus() and self.proxy.rowCount():
            select_row(self.table, 0)  # the keys act on the first row, as on arriving here

    def _failed(self, exc: Exception) -> None:
        self._loading = self._again = False
        self.status.setText(str(exc))

    @staticmethod
    def _key(record: Any) -> Any:
        return getattr(record, "id", None) or getattr(record, "name", None)

    def selected(self) -> list[Any]:
        rows = {self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()}
        return [self.model.record(r) for r in sorted(rows)]

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def remove_selected(self, what: str, remove) -> None:
        """Ask, then call `remove(record)` for each selected row off the GUI thread."""
        rows = self.selected()
        if not rows:
            self.status.setText(f"Select the {what} to remove first.")
            return
        names = ", ".join(str(getattr(r, "name", None) or getattr(r[1], "name", r)) for r in rows)
        if self.confirm(f"Remove {what}", f"Remove {names}?"):
            self.run(lambda: [remove(r) for r in rows])

    def open_form(self, title: str, fields: dict, submit) -> FormDialog:
        """A form whose `submit(values)` runs off the GUI thread; the page reloads after."""
        dialog = FormDialog(title, fields, submit, self)
        dialog.done.connect(lambda _r: self.refresh())
        dialog.open()
        return dialog

    def open_rename(self, what: str, current: str, rename) -> FormDialog:
        """A one-field form for a new name; `rename(new_name)` runs off the GUI thread."""
        name = line()
        name.setText(current)
        return self.open_form(
            f"Rename {what} {current}", {"name": name}, lambda v: rename(v["name"].strip())
        )

    def one_selected(self, what: str):
        rows = self.selected()
        if len(rows) != 1:
            self.status.setText(f"Select one {what} first.")
            return None
        return rows[0]

    def activated(self) -> None:
        """Double-click / Enter on a row; pages override."""

    def run(self, fn, *args, done=None) -> None:
        """A service call off the GUI thread; errors land in the status line."""

        def finished(result):
            self.status.clear()
            if done:
                done(result)
            self.refresh()

        run_in_background(self, fn, *args, on_result=finished, on_error=self._failed)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()
