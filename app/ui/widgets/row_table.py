"""A small read-only table of rows (the dashboard's lists, an edge's runs): whole rows
selected, Enter on a row does what a double-click does (`entered`)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem


class RowTable(QTableWidget):
    entered = Signal(int)

    def __init__(self, headers: list[str], name: str, parent=None) -> None:
        super().__init__(0, len(headers), parent, objectName=name)
        self.setHorizontalHeaderLabels(headers)
        self.horizontalHeader().setStretchLastSection(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(26)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.doubleClicked.connect(lambda index: self.entered.emit(index.row()))

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentRow() >= 0:
            self.entered.emit(self.currentRow())
        else:
            super().keyPressEvent(event)

    def fill(self, rows: list[list]) -> None:
        """Rows of cells: a cell is text, or (text, {role: value}) for a delegate or a key.
        The current row stays current when there still is one."""
        current = self.currentRow()
        self.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, cell in enumerate(cells):
                text, roles = cell if isinstance(cell, tuple) else (cell, {})
                item = QTableWidgetItem(str(text))
                item.setToolTip(str(text))
                for role, value in roles.items():
                    item.setData(role, value)
                self.setItem(r, c, item)
        if 0 <= current < len(rows):
            self.selectRow(current)
        self.resizeColumnsToContents()
