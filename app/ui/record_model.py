"""A table model over service records: columns are (header, value getter) pairs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

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


class RecordTableModel(QAbstractTableModel):
    def __init__(self, columns: Sequence[Column], parent=None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[Any] = []

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def record(self, row: int) -> Any:
        return self.rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        value = self.columns[index.column()][1](self.rows[index.row()])
        if isinstance(value, Ago):
            if role == Qt.ItemDataRole.ToolTipRole:
                return _display(value.at.astimezone()) if value.at else "never seen"
            if role == SORT_ROLE:
                return value.at.timestamp() if value.at else 0.0
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return _display(value)
        if role == SORT_ROLE:
            return value if isinstance(value, int | float) else _display(value)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section][0]
        return None
