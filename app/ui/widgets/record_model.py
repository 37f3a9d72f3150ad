"""A table model over service records: columns are (header, value getter) pairs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from app.services.entities.records import human_ago, human_size

Column = tuple[str, Callable[[Any], Any]]
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class Bytes(int):
    """A size: sorts as its number, shows as people read sizes (10.0 KB, 19.1 MB)."""

    def __str__(self) -> str:
        return human_size(self)


@dataclass(frozen=True)
class Ago:
    """A moment shown as "3 s ago" (as of each repaint), sorted by time, its date in the
    tooltip."""

    at: datetime | None

    def __str__(self) -> str:
        return human_ago(self.at, datetime.now(UTC))


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Bytes):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def sort_key(value: Any) -> tuple[int, Any]:
    """Numbers (and moments) before text, each in its own order; blanks first."""
    if isinstance(value, Ago):
        return (0, value.at.timestamp() if value.at else 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (1, _display(value).casefold())
    return (0, value)


class SourceSortingProxy(QSortFilterProxyModel):
    """Filters here, sorts in the RecordTableModel under it."""

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


class RecordTableModel(QAbstractTableModel):
    def __init__(
        self, columns: Sequence[Column], parent=None, key: Callable[[Any], Any] | None = None
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.key = key  # what makes a row the same row from one load to the next
        self.rows: list[Any] = []
        self._values: list[list[Any]] = []
        self._display: list[list[str]] = []
        self._sort: tuple[int, Qt.SortOrder] = (-1, Qt.SortOrder.AscendingOrder)

    def set_rows(self, rows: Sequence[Any]) -> bool:
        """Show these rows. The same rows in the same order (a status or a time changed)
        repaint in place and keep the selection; otherwise the model resets (True)."""
        # Each cell's value got once: painting and sizing ask for them many times over.
        values = [[get(r) for _h, get in self.columns] for r in rows]
        new = self._sorted(list(rows), values, [[_display(v) for v in row] for row in values])
        if (
            self.key
            and new[0]
            and [self.key(r) for r in new[0]] == [self.key(r) for r in self.rows]
        ):
            self.rows, self._values, self._display = new
            last = self.index(len(self.rows) - 1, len(self.columns) - 1)
            self.dataChanged.emit(self.index(0, 0), last)
            return False
        self.beginResetModel()
        self.rows, self._values, self._display = new
        self.endResetModel()
        return True

    def append_rows(self, rows: Sequence[Any]) -> None:
        """Add rows at the end (a log that grows), left unsorted until the next sort."""
        if not rows:
            return
        first = len(self.rows)
        values = [[get(r) for _h, get in self.columns] for r in rows]
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self.rows.extend(rows)
        self._values.extend(values)
        self._display.extend([_display(v) for v in row] for row in values)
        self.endInsertRows()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sorted here, once, by the cached values (a sorting proxy would call `data` for
        each of the n·log n comparisons)."""
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self.rows, self._values, self._display = self._sorted(
            self.rows, self._values, self._display
        )
        self.layoutChanged.emit()

    def _sorted(self, rows: list, values: list, display: list) -> tuple[list, list, list]:
        column, order = self._sort
        if column < 0 or not rows:
            return rows, values, display
        keys = [sort_key(row[column]) for row in values]
        ranked = sorted(
            range(len(rows)), key=keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder
        )
        return [rows[i] for i in ranked], [values[i] for i in ranked], [display[i] for i in ranked]

    def record(self, row: int) -> Any:
        return self.rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        value = self._values[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole and not isinstance(value, Ago):
            return self._display[index.row()][index.column()]
        if isinstance(value, Ago) and role == Qt.ItemDataRole.ToolTipRole:
            return _display(value.at.astimezone()) if value.at else "never seen"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return _display(value)
        if role == SORT_ROLE:
            return sort_key(value)[1]
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section][0]
        return None
